// The one translation unit that compiles Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION is defined for every target).
#include <boost/asio/impl/src.hpp>
