// The one translation unit that compiles Beast's implementation
// (BOOST_BEAST_SEPARATE_COMPILATION is defined for aragora_net).
#include <boost/beast/src.hpp>
