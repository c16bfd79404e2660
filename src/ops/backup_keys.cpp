#include "ops/backup_keys.hpp"

#include <boost/json.hpp>

#include "common/crypto.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"

namespace aragora::ops {

namespace json = boost::json;

common::Result<std::string> SealReceiptKeys(const debate::ReceiptKeys& keys, bool from_file,
                                            const BackupKey& key) {
    // Base64: key material is bytes, JSON text is UTF-8.
    json::array retired;
    for (const std::string& k : keys.hmac_retired) retired.emplace_back(common::Base64Encode(k));
    json::object o{{"version", 1},
                   {"hmac_current", common::Base64Encode(keys.hmac_current)},
                   {"hmac_previous", common::Base64Encode(keys.hmac_previous)},
                   {"hmac_retired", std::move(retired)},
                   {"hmac_source", from_file ? "file" : "env"}};
    return EncryptBytes(common::SerializeJson(o), key);
}

common::Result<CarriedReceiptKeys> OpenReceiptKeys(std::string_view sealed, const BackupKey& key) {
    auto plain = DecryptBytes(sealed, key);
    if (!plain) return plain.error();
    boost::system::error_code ec;
    json::value v = json::parse(*plain, ec);
    if (ec || !v.is_object()) {
        return common::MakeError(common::ErrorCode::kCrypto, "receipt keys file is not valid JSON");
    }
    const auto& o = v.as_object();
    auto current = common::Base64Decode(common::StringFieldOr(o, "hmac_current"));
    auto previous = common::Base64Decode(common::StringFieldOr(o, "hmac_previous"));
    if (!current || !previous) {
        return common::MakeError(common::ErrorCode::kCrypto, "receipt keys file is damaged");
    }
    CarriedReceiptKeys carried{std::move(*current),
                               std::move(*previous),
                               common::StringFieldOr(o, "hmac_source") == "file",
                               {}};
    // Older backups have no hmac_retired.
    if (const json::value* retired = o.if_contains("hmac_retired");
        retired && retired->is_array()) {
        for (const json::value& k : retired->get_array()) {
            auto raw = k.is_string() ? common::Base64Decode(k.get_string())
                                     : common::Result<std::string>(common::MakeError(
                                           common::ErrorCode::kCrypto, "damaged"));
            if (!raw) {
                return common::MakeError(common::ErrorCode::kCrypto,
                                         "receipt keys file is damaged");
            }
            carried.hmac_retired.push_back(std::move(*raw));
        }
    }
    return carried;
}

}  // namespace aragora::ops
