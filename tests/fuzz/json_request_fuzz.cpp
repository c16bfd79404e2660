// libFuzzer target: the JSON request bodies the REST API decodes. The input is a body as
// a client sends it: POST /api/v1/debates (ParseCreateDebateRequest), any JSON body
// (ParseJsonObjectBody), POST /api/v1/receipts/verify (ReceiptTextFromBody, then receipt
// verification), plus the JSON text helpers those answers are built with.

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "api/handlers.hpp"
#include "common/jcs.hpp"
#include "common/json_text.hpp"
#include "debate/receipt.hpp"
#include "debate/types.hpp"
#include "fuzz_check.hpp"

namespace {

using aragora::fuzz::Check;
namespace api = aragora::api;
namespace common = aragora::common;

bool IsBlank(std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

void CheckCreateRequest(const aragora::service::CreateDebateRequest& req) {
    Check(!IsBlank(req.task), "create: task is not blank");
    Check(req.rounds >= aragora::debate::kMinRounds && req.rounds <= aragora::debate::kMaxRounds,
          "create: rounds within bounds");
    Check(
        !req.consensus_threshold || (*req.consensus_threshold > 0 && *req.consensus_threshold <= 1),
        "create: consensus_threshold in (0, 1]");
    Check(req.agents.size() >= 2, "create: at least 2 agents");
    boost::system::error_code ec;
    const boost::json::value metadata = boost::json::parse(req.metadata_json, ec);
    Check(!ec && metadata.is_object(), "create: metadata_json is a JSON object");
}

// `b` is `a` written by SerializeJson and parsed again: the same JSON, except that a number
// may change kind (3.0 is written 3; -0.0 is written 0), a non-finite one becomes null and
// a double may move by a few ulps (Boost.JSON 1.81 does not parse doubles correctly
// rounded: README.md "Findings").
bool SameJson(const boost::json::value& a, const boost::json::value& b);

bool SameJson(const boost::json::object& a, const boost::json::object& b) {
    if (a.size() != b.size()) return false;
    auto it = b.begin();
    for (const auto& member : a) {
        if (member.key() != it->key() || !SameJson(member.value(), it->value())) return false;
        ++it;
    }
    return true;
}

bool SameJson(const boost::json::value& a, const boost::json::value& b) {
    if (a.is_number() && b.is_number()) {
        if (!a.is_double() && !b.is_double()) return a == b;
        const double x = a.to_number<double>();
        const double y = b.to_number<double>();
        return x == y || std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
    }
    if (a.is_double() && !std::isfinite(a.get_double())) return b.is_null();
    if (a.kind() != b.kind()) return false;
    if (a.is_object()) return SameJson(a.get_object(), b.get_object());
    if (a.is_array()) {
        const auto& x = a.get_array();
        const auto& y = b.get_array();
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!SameJson(x[i], y[i])) return false;
        }
        return true;
    }
    return a == b;
}

// Canonical text is a fixed point: canonicalizing it again changes nothing.
void CheckCanonical(std::string_view text) {
    auto canonical = common::CanonicalizeJson(text);
    if (!canonical) return;
    auto again = common::CanonicalizeJson(*canonical);
    Check(again.ok(), "JCS output canonicalizes");
    Check(*again == *canonical, "JCS is idempotent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);

    if (auto object = api::ParseJsonObjectBody(body)) {
        // Responses serialize decoded JSON (metadata) with SerializeJson: its text must
        // parse back to the same value.
        const std::string text = common::SerializeJson(*object);
        auto reparsed = api::ParseJsonObjectBody(text);
        Check(reparsed.ok(), "SerializeJson output parses as an object");
        if (!SameJson(*object, *reparsed)) {
            std::fprintf(stderr, "SerializeJson: %s\nof that, parsed: %s\n", text.c_str(),
                         common::SerializeJson(*reparsed).c_str());
            Check(false, "SerializeJson output means the same JSON");
        }
    }

    if (auto request = api::ParseCreateDebateRequest(body)) CheckCreateRequest(*request);

    if (auto receipt = api::ReceiptTextFromBody(body)) {
        static const aragora::debate::ReceiptKeys keys{"fuzz-hmac-key", "fuzz-previous-key", {}};
        const auto verification = aragora::debate::VerifyReceipt(*receipt, keys);
        Check(!verification.valid || verification.integrity_valid, "valid receipt has integrity");
        const std::string answer = api::VerificationJson(*receipt, keys);
        boost::system::error_code ec;
        Check(boost::json::parse(answer, ec).is_object() && !ec, "verification answer is JSON");
        CheckCanonical(*receipt);
    }

    CheckCanonical(body);
    return 0;
}
