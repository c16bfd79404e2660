#pragma once

// JSON text for API responses and events. Boost.JSON 1.81 writes every double in
// exponent form ("8E-1", "1.8E9"); clients parse it, but people read our answers, so
// numbers are written as JavaScript writes them ("0.8", "1800000000.5"). Key order is
// kept. Non-finite numbers become null.

#include <string>

namespace boost::json {
class value;
class object;
class array;
}  // namespace boost::json

namespace aragora::common {

std::string SerializeJson(const boost::json::value& v);
std::string SerializeJson(const boost::json::object& o);
std::string SerializeJson(const boost::json::array& a);

}  // namespace aragora::common
