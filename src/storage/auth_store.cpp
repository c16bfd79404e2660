#include "storage/auth_store.hpp"

#include <string>

#include "common/crypto.hpp"

namespace aragora::storage {

std::string AuditEntryHash(const AuditEntry& entry) {
    std::string text;
    text.reserve(entry.prev_hash.size() + entry.at.size() + entry.actor.size() +
                 entry.action.size() + entry.target.size() + entry.ip.size() +
                 entry.correlation_id.size() + entry.details_json.size() + 32);
    for (const std::string& part :
         {entry.prev_hash, std::to_string(entry.seq), entry.at, entry.actor, entry.action,
          entry.target, entry.ip, entry.correlation_id}) {
        text.append(part);
        text.push_back('\n');
    }
    text.append(entry.details_json);
    return common::Sha256Hex(text);
}

}  // namespace aragora::storage
