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
    json::object o{{"version", 1},
                   {"hmac_current", common::Base64Encode(keys.hmac_current)},
                   {"hmac_previous", common::Base64Encode(keys.hmac_previous)},
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
    return CarriedReceiptKeys{std::move(*current), std::move(*previous),
                              common::StringFieldOr(o, "hmac_source") == "file"};
}

}  // namespace aragora::ops
