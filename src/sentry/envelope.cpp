#include "sentry/envelope.hpp"

#include <openssl/rand.h>

#include <boost/json.hpp>

#include "common/time.hpp"

namespace aragora::sentry {
namespace json = boost::json;

std::string NewEventId() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
        for (std::size_t i = 0; i < sizeof bytes; ++i)
            bytes[i] = static_cast<unsigned char>(t >> ((i % 8) * 8));
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    id.reserve(32);
    for (unsigned char b : bytes) {
        id.push_back(kHex[b >> 4]);
        id.push_back(kHex[b & 0x0f]);
    }
    return id;
}

std::string BuildEnvelope(const common::ErrorReport& report, const EventContext& context,
                          const Dsn& dsn, const std::string& event_id,
                          std::chrono::system_clock::time_point now) {
    const std::string timestamp = common::FormatIso8601(now);
    json::object tags;
    for (const auto& [k, v] : report.tags) tags[k] = v;
    if (!report.correlation_id.empty()) tags["correlation_id"] = report.correlation_id;

    json::object event{
        {"event_id", event_id},
        {"timestamp", timestamp},
        {"platform", "native"},
        {"level", report.level},
        {"logger", "aragora"},
        {"message", json::object{{"formatted", report.message}}},
        {"exception",
         json::object{{"values", json::array{json::object{{"type", report.type},
                                                          {"value", report.message}}}}}},
        {"tags", std::move(tags)},
        {"environment", context.environment},
        {"release", context.release},
        {"server_name", context.server_name},
        {"sdk", json::object{{"name", context.sdk_name}, {"version", context.sdk_version}}},
    };
    if (!report.method.empty()) {
        json::object headers;
        for (const auto& [k, v] : report.headers) headers[k] = v;
        event["request"] = json::object{{"method", report.method},
                                        {"url", report.path},
                                        {"query_string", report.query},
                                        {"headers", std::move(headers)}};
    }
    if (!report.correlation_id.empty()) {
        event["extra"] = json::object{{"correlation_id", report.correlation_id}};
    }
    const std::string payload = json::serialize(event);
    // The envelope header names the DSN without any secret part: the public key only.
    const std::string header = json::serialize(
        json::object{{"event_id", event_id},
                     {"sent_at", timestamp},
                     {"dsn", dsn.scheme + "://" + dsn.public_key + "@" + dsn.host + ":" +
                                 std::to_string(dsn.port) + dsn.path + "/" + dsn.project_id}});
    const std::string item =
        json::serialize(json::object{{"type", "event"}, {"length", payload.size()}});
    return header + "\n" + item + "\n" + payload + "\n";
}

}  // namespace aragora::sentry
