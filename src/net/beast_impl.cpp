// The one translation unit that compiles Beast's implementation
// (BOOST_BEAST_SEPARATE_COMPILATION is defined for aragora_net) and Asio's SSL part
// (BOOST_ASIO_SEPARATE_COMPILATION is defined for every target; boost/asio/impl/src.hpp,
// compiled in aragora_common, does not include the SSL sources in Boost 1.81).
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
