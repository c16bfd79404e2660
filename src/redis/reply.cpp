#include "redis/reply.hpp"

namespace aragora::redis {

std::string Describe(const Reply& reply) {
    switch (reply.type) {
        case Reply::Type::kNil:
            return "(nil)";
        case Reply::Type::kInteger:
            return "(integer) " + std::to_string(reply.integer);
        case Reply::Type::kString:
            return "\"" + reply.str + "\"";
        case Reply::Type::kStatus:
            return reply.str;
        case Reply::Type::kError:
            return "(error) " + reply.str;
        case Reply::Type::kArray: {
            std::string out = "[";
            for (std::size_t i = 0; i < reply.elements.size(); ++i) {
                if (i > 0) out += ", ";
                out += Describe(reply.elements[i]);
            }
            return out + "]";
        }
    }
    return "?";
}

}  // namespace aragora::redis
