#include "common/time.hpp"

#include <cstdio>
#include <ctime>

namespace aragora::common {

std::string FormatIso8601(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    int millis = static_cast<int>(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view s) {
    int y, mo, d, h, mi, sec, n = 0;
    std::string str(s);
    if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return std::nullopt;
    int millis = 0;
    std::size_t pos = static_cast<std::size_t>(n);
    if (pos < str.size() && str[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') {
            if (digits < 3) millis = millis * 10 + (str[pos] - '0');
            ++digits;
            ++pos;
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 3; ++digits) millis *= 10;
    }
    if (pos != str.size() - 1 || str[pos] != 'Z') return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    std::time_t t = timegm(&tm);
    return std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(millis);
}

double EpochSeconds(std::chrono::system_clock::time_point tp) {
    return std::chrono::duration<double>(tp.time_since_epoch()).count();
}

}  // namespace aragora::common
