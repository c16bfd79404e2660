#pragma once

// A Redis reply as a plain value (RESP2: nil, integer, bulk string, status, error, array),
// converted from hiredis' redisReply so that no hiredis type leaves src/redis.

#include <cstdint>
#include <string>
#include <vector>

namespace aragora::redis {

struct Reply {
    enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };

    Type type = Type::kNil;
    std::int64_t integer = 0;     // kInteger
    std::string str;              // kString, kStatus ("OK", "PONG"), kError ("ERR ...")
    std::vector<Reply> elements;  // kArray

    bool IsNil() const { return type == Type::kNil; }
    bool IsError() const { return type == Type::kError; }
    bool IsInteger() const { return type == Type::kInteger; }
    bool IsString() const { return type == Type::kString || type == Type::kStatus; }
    bool IsArray() const { return type == Type::kArray; }

    static Reply Nil() { return Reply{}; }
    static Reply Integer(std::int64_t v) { return Reply{Type::kInteger, v, {}, {}}; }
    static Reply String(std::string s) { return Reply{Type::kString, 0, std::move(s), {}}; }
    static Reply Status(std::string s) { return Reply{Type::kStatus, 0, std::move(s), {}}; }
    static Reply ErrorReply(std::string s) { return Reply{Type::kError, 0, std::move(s), {}}; }
    static Reply Array(std::vector<Reply> e) { return Reply{Type::kArray, 0, {}, std::move(e)}; }
};

// redis-cli-like one-line rendering for logs and test messages: (nil), (integer) 3,
// "text", OK, (error) ERR ..., [a, b].
std::string Describe(const Reply& reply);

}  // namespace aragora::redis
