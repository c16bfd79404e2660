#include "common/jcs.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace aragora::common {

namespace {

// Boost.JSON only tokenizes here: its value tree would lose duplicate keys silently and
// (before Boost 1.83) may round some decimal numbers to a neighbouring double, either of
// which would make two parties disagree on the signed bytes.
struct Node;

struct Member {
    std::string key;
    std::u16string sort_key;  // RFC 8785 3.2.3: members sort by UTF-16 code units
    std::unique_ptr<Node> value;
};

struct Node {
    enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
    Kind kind = Kind::kNull;
    bool boolean = false;
    double number = 0;
    std::string text;
    std::vector<Node> items;
    std::vector<Member> members;
};

// Input strings were validated as UTF-8 by the parser.
std::u16string Utf8ToUtf16(std::string_view s) {
    std::u16string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        auto b = static_cast<unsigned char>(s[i]);
        char32_t cp;
        std::size_t len;
        if (b < 0x80) {
            cp = b;
            len = 1;
        } else if ((b & 0xE0) == 0xC0) {
            cp = b & 0x1F;
            len = 2;
        } else if ((b & 0xF0) == 0xE0) {
            cp = b & 0x0F;
            len = 3;
        } else {
            cp = b & 0x07;
            len = 4;
        }
        for (std::size_t j = 1; j < len && i + j < s.size(); ++j)
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + j]) & 0x3F);
        i += len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
            out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
        } else {
            out.push_back(static_cast<char16_t>(cp));
        }
    }
    return out;
}

// Parses a JSON number's text to the nearest double (correctly rounded).
bool ParseNumber(const std::string& text, double& out, std::string& error) {
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(first, last, out);
    if (ec == std::errc::result_out_of_range) {
        // Underflow is a value (±0, as ECMAScript reads it); overflow is not finite.
        auto e = text.find_first_of("eE");
        if (e != std::string::npos && e + 1 < text.size() && text[e + 1] == '-') {
            out = text[0] == '-' ? -0.0 : 0.0;
            return true;
        }
        error = "number out of range: " + text;
        return false;
    }
    if (ec != std::errc() || ptr != last || !std::isfinite(out)) {
        error = "invalid number: " + text;
        return false;
    }
    return true;
}

class TreeBuilder {
public:
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

    using error_code = boost::json::error_code;
    using string_view = boost::json::string_view;

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }

    bool on_object_begin(error_code&) {
        Frame f;
        f.node.kind = Node::Kind::kObject;
        stack_.push_back(std::move(f));
        return true;
    }

    bool on_object_end(std::size_t, error_code& ec) {
        Node node = std::move(stack_.back().node);
        stack_.pop_back();
        auto& m = node.members;
        std::sort(m.begin(), m.end(),
                  [](const Member& a, const Member& b) { return a.sort_key < b.sort_key; });
        for (std::size_t i = 1; i < m.size(); ++i) {
            if (m[i].sort_key == m[i - 1].sort_key)
                return Fail(ec, "duplicate key \"" + m[i].key + "\"");
        }
        return AddValue(std::move(node), ec);
    }

    bool on_array_begin(error_code&) {
        Frame f;
        f.node.kind = Node::Kind::kArray;
        stack_.push_back(std::move(f));
        return true;
    }

    bool on_array_end(std::size_t, error_code& ec) {
        Node node = std::move(stack_.back().node);
        stack_.pop_back();
        return AddValue(std::move(node), ec);
    }

    bool on_key_part(string_view s, std::size_t, error_code&) {
        buffer_.append(s.data(), s.size());
        return true;
    }

    bool on_key(string_view s, std::size_t, error_code&) {
        buffer_.append(s.data(), s.size());
        stack_.back().key = std::move(buffer_);
        buffer_.clear();
        return true;
    }

    bool on_string_part(string_view s, std::size_t, error_code&) {
        buffer_.append(s.data(), s.size());
        return true;
    }

    bool on_string(string_view s, std::size_t, error_code& ec) {
        buffer_.append(s.data(), s.size());
        Node node;
        node.kind = Node::Kind::kString;
        node.text = std::move(buffer_);
        buffer_.clear();
        return AddValue(std::move(node), ec);
    }

    bool on_number_part(string_view s, error_code&) {
        buffer_.append(s.data(), s.size());
        return true;
    }

    bool on_int64(std::int64_t, string_view s, error_code& ec) { return OnNumber(s, ec); }
    bool on_uint64(std::uint64_t, string_view s, error_code& ec) { return OnNumber(s, ec); }
    bool on_double(double, string_view s, error_code& ec) { return OnNumber(s, ec); }

    bool on_bool(bool b, error_code& ec) {
        Node node;
        node.kind = Node::Kind::kBool;
        node.boolean = b;
        return AddValue(std::move(node), ec);
    }

    bool on_null(error_code& ec) { return AddValue(Node{}, ec); }

    bool on_comment_part(string_view, error_code&) { return true; }
    bool on_comment(string_view, error_code&) { return true; }

    Node& root() { return root_; }
    const std::string& error() const { return error_; }

private:
    struct Frame {
        Node node;
        std::string key;  // the pending member name (objects only)
    };

    bool Fail(error_code& ec, std::string message) {
        error_ = std::move(message);
        ec = boost::json::error::exception;
        return false;
    }

    bool OnNumber(string_view s, error_code& ec) {
        buffer_.append(s.data(), s.size());
        Node node;
        node.kind = Node::Kind::kNumber;
        std::string error;
        if (!ParseNumber(buffer_, node.number, error)) return Fail(ec, std::move(error));
        buffer_.clear();
        return AddValue(std::move(node), ec);
    }

    bool AddValue(Node node, error_code&) {
        if (stack_.empty()) {
            root_ = std::move(node);
            return true;
        }
        Frame& top = stack_.back();
        if (top.node.kind == Node::Kind::kArray) {
            top.node.items.push_back(std::move(node));
        } else {
            Member m;
            m.sort_key = Utf8ToUtf16(top.key);
            m.key = std::move(top.key);
            top.key.clear();
            m.value = std::make_unique<Node>(std::move(node));
            top.node.members.push_back(std::move(m));
        }
        return true;
    }

    std::vector<Frame> stack_;
    std::string buffer_;
    Node root_;
    std::string error_;
};

Result<Node> Parse(std::string_view json) {
    boost::json::parse_options options;  // strict JSON, nesting depth 32
    boost::json::basic_parser<TreeBuilder> parser(options);
    boost::json::error_code ec;
    std::size_t n = parser.write_some(false, json.data(), json.size(), ec);
    if (ec) {
        std::string what = parser.handler().error();
        if (what.empty()) what = ec.message();
        return MakeError(ErrorCode::kBadRequest,
                         "invalid JSON at offset " + std::to_string(n) + ": " + what);
    }
    if (n != json.size()) {
        return MakeError(ErrorCode::kBadRequest,
                         "invalid JSON at offset " + std::to_string(n) + ": extra data");
    }
    return std::move(parser.handler().root());
}

void AppendNode(const Node& node, std::string& out, const std::vector<std::string>* omit) {
    switch (node.kind) {
        case Node::Kind::kNull:
            out.append("null");
            break;
        case Node::Kind::kBool:
            out.append(node.boolean ? "true" : "false");
            break;
        case Node::Kind::kNumber:
            AppendJsonNumber(node.number, out);
            break;
        case Node::Kind::kString:
            AppendJsonString(node.text, out);
            break;
        case Node::Kind::kArray: {
            out.push_back('[');
            bool first = true;
            for (const Node& item : node.items) {
                if (!first) out.push_back(',');
                first = false;
                AppendNode(item, out, nullptr);
            }
            out.push_back(']');
            break;
        }
        case Node::Kind::kObject: {
            out.push_back('{');
            bool first = true;
            for (const Member& m : node.members) {
                if (omit && std::find(omit->begin(), omit->end(), m.key) != omit->end()) continue;
                if (!first) out.push_back(',');
                first = false;
                AppendJsonString(m.key, out);
                out.push_back(':');
                AppendNode(*m.value, out, nullptr);
            }
            out.push_back('}');
            break;
        }
    }
}

}  // namespace

// ECMAScript Number::toString (ECMA-262 7.1.12.1) from the shortest round-trip digits.
void AppendJsonNumber(double v, std::string& out) {
    if (v == 0) {
        out.push_back('0');  // also -0
        return;
    }
    if (v < 0) {
        out.push_back('-');
        v = -v;
    }
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // d[.ddd]e±XX
    const auto e_pos = sci.find('e');
    // The significant digits without the point, in a stack buffer: every event's
    // timestamp passes here (17 digits, more than a short string holds).
    char digit_buf[32];
    std::size_t k_size = 0;
    digit_buf[k_size++] = sci[0];
    for (std::size_t i = 2; i < e_pos; ++i) digit_buf[k_size++] = sci[i];
    const std::string_view digits(digit_buf, k_size);
    int exponent = 0;
    const char* exp_begin = sci.data() + e_pos + 1;
    if (*exp_begin == '+') ++exp_begin;
    std::from_chars(exp_begin, sci.data() + sci.size(), exponent);
    const int k = static_cast<int>(digits.size());
    const int n = exponent + 1;  // decimal point position relative to the digits
    if (k <= n && n <= 21) {
        out.append(digits);
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out.append(digits.substr(0, static_cast<std::size_t>(n)));
        out.push_back('.');
        out.append(digits.substr(static_cast<std::size_t>(n)));
    } else if (-6 < n && n <= 0) {
        out.append("0.");
        out.append(static_cast<std::size_t>(-n), '0');
        out.append(digits);
    } else {
        out.push_back(digits[0]);
        if (k > 1) {
            out.push_back('.');
            out.append(digits.substr(1));
        }
        out.push_back('e');
        out.push_back(n - 1 < 0 ? '-' : '+');
        out.append(std::to_string(std::abs(n - 1)));
    }
}

void AppendJsonString(std::string_view s, std::string& out) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    // Runs of characters that need no escape are copied at once (event payloads are
    // mostly such runs; a byte-by-byte push_back showed in profiles).
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u >= 0x20 && u != '"' && u != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (s[i]) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\b':
                out.append("\\b");
                break;
            case '\t':
                out.append("\\t");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\f':
                out.append("\\f");
                break;
            case '\r':
                out.append("\\r");
                break;
            default:
                out.append("\\u00");
                out.push_back(kHex[u >> 4]);
                out.push_back(kHex[u & 15]);
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

Result<std::string> CanonicalizeJson(std::string_view json) {
    auto root = Parse(json);
    if (!root) return root.error();
    std::string out;
    out.reserve(json.size());
    AppendNode(*root, out, nullptr);
    return out;
}

Result<std::string> CanonicalizeJsonObjectWithout(std::string_view json,
                                                  const std::vector<std::string>& omit) {
    auto root = Parse(json);
    if (!root) return root.error();
    if (root->kind != Node::Kind::kObject)
        return MakeError(ErrorCode::kBadRequest, "expected a JSON object");
    std::string out;
    out.reserve(json.size());
    AppendNode(*root, out, &omit);
    return out;
}

}  // namespace aragora::common
