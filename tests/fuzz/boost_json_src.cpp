// Boost.JSON's implementation, compiled into the fuzz targets only (CMakeLists.txt).
#include <boost/json/src.hpp>
