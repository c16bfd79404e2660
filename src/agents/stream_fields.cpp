#include "agents/stream_fields.hpp"

#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace aragora::agents::wire::detail {
namespace {

using error_code = boost::json::error_code;
using json_view = boost::json::string_view;

// What a member's value is for (see the tables below).
enum class Slot : std::uint8_t {
    kNone,           // a container on the way to members that are read
    kDecline,        // any value: the document decoder answers (error objects)
    kType,           // Anthropic: type (when the SSE event has no event: line)
    kDeltaType,      // Anthropic: delta.type
    kDeltaText,      // Anthropic: delta.text
    kStopReason,     // Anthropic: delta.stop_reason
    kBlockType,      // Anthropic: content_block.type
    kBlockText,      // Anthropic: content_block.text
    kMessageUsage,   // Anthropic: message.usage (present when not null)
    kUsage,          // usage / usageMetadata (present when not null; object noted)
    kMessageInput,   // message.usage.input_tokens
    kMessageOutput,  // message.usage.output_tokens
    kInput,          // usage.input_tokens / prompt_tokens / promptTokenCount
    kOutput,         // usage.output_tokens / completion_tokens / candidatesTokenCount
    kContent,        // OpenAI: choices[0].delta.content, a string or an array of parts
    kPart,           // a part object: its text is appended to the delta
    kPartText,       // the part's text
    kPartThought,    // Gemini: the part's thought flag (a thought is not the answer)
    kRefusal,        // OpenAI: choices[0].delta.refusal
    kFinishReason,   // OpenAI: choices[0].finish_reason; Gemini: candidates[0].finishReason
};

// How a node is reached from its parent: a member by name, the first element of an array,
// or every element of an array.
enum class Edge : std::uint8_t { kMember, kFirst, kEach };

struct Node {
    int parent;  // -1 for the root (index 0)
    Edge edge;
    std::string_view key;  // kMember only
    Slot slot;
};

// The members each decoder in wire.cpp reads (DecodeAnthropic, DecodeOpenAi, DecodeGemini);
// "error" (and Gemini's "promptFeedback") send the event to those decoders.
constexpr Node kAnthropic[] = {
    {-1, Edge::kMember, "", Slot::kNone},                        // 0 root
    {0, Edge::kMember, "type", Slot::kType},                     // 1
    {0, Edge::kMember, "delta", Slot::kNone},                    // 2
    {2, Edge::kMember, "type", Slot::kDeltaType},                // 3
    {2, Edge::kMember, "text", Slot::kDeltaText},                // 4
    {2, Edge::kMember, "stop_reason", Slot::kStopReason},        // 5
    {0, Edge::kMember, "content_block", Slot::kNone},            // 6
    {6, Edge::kMember, "type", Slot::kBlockType},                // 7
    {6, Edge::kMember, "text", Slot::kBlockText},                // 8
    {0, Edge::kMember, "message", Slot::kNone},                  // 9
    {9, Edge::kMember, "usage", Slot::kMessageUsage},            // 10
    {10, Edge::kMember, "input_tokens", Slot::kMessageInput},    // 11
    {10, Edge::kMember, "output_tokens", Slot::kMessageOutput},  // 12
    {0, Edge::kMember, "usage", Slot::kUsage},                   // 13
    {13, Edge::kMember, "input_tokens", Slot::kInput},           // 14
    {13, Edge::kMember, "output_tokens", Slot::kOutput},         // 15
    {0, Edge::kMember, "error", Slot::kDecline},                 // 16
};

constexpr Node kOpenAi[] = {
    {-1, Edge::kMember, "", Slot::kNone},                      // 0 root
    {0, Edge::kMember, "choices", Slot::kNone},                // 1
    {1, Edge::kFirst, "", Slot::kNone},                        // 2 choices[0]
    {2, Edge::kMember, "delta", Slot::kNone},                  // 3
    {3, Edge::kMember, "content", Slot::kContent},             // 4
    {4, Edge::kEach, "", Slot::kPart},                         // 5 content[i]
    {5, Edge::kMember, "text", Slot::kPartText},               // 6
    {3, Edge::kMember, "refusal", Slot::kRefusal},             // 7
    {2, Edge::kMember, "finish_reason", Slot::kFinishReason},  // 8
    {0, Edge::kMember, "usage", Slot::kUsage},                 // 9
    {9, Edge::kMember, "prompt_tokens", Slot::kInput},         // 10
    {9, Edge::kMember, "completion_tokens", Slot::kOutput},    // 11
    {0, Edge::kMember, "error", Slot::kDecline},               // 12
};

constexpr Node kGemini[] = {
    {-1, Edge::kMember, "", Slot::kNone},                       // 0 root
    {0, Edge::kMember, "candidates", Slot::kNone},              // 1
    {1, Edge::kFirst, "", Slot::kNone},                         // 2 candidates[0]
    {2, Edge::kMember, "content", Slot::kNone},                 // 3
    {3, Edge::kMember, "parts", Slot::kNone},                   // 4
    {4, Edge::kEach, "", Slot::kPart},                          // 5 parts[i]
    {5, Edge::kMember, "text", Slot::kPartText},                // 6
    {5, Edge::kMember, "thought", Slot::kPartThought},          // 7
    {2, Edge::kMember, "finishReason", Slot::kFinishReason},    // 8
    {0, Edge::kMember, "usageMetadata", Slot::kUsage},          // 9
    {9, Edge::kMember, "promptTokenCount", Slot::kInput},       // 10
    {9, Edge::kMember, "candidatesTokenCount", Slot::kOutput},  // 11
    {0, Edge::kMember, "error", Slot::kDecline},                // 12
    {0, Edge::kMember, "promptFeedback", Slot::kDecline},       // 13
};

// The captured members (strings the step does not take as they are).
struct Fields {
    std::string type;
    std::string delta_type;
    std::string delta_text;
    std::string block_type;
    std::string block_text;
    bool usage = false;
    bool usage_object = false;
    bool message_usage = false;
    std::int64_t input = 0, output = 0, message_input = 0, message_output = 0;
};

// Token counts as wire.cpp's CountOf reads them: non-negative integers, or integral
// doubles from lenient servers; anything else counts 0.
std::int64_t CountOfInt(std::int64_t v) { return v >= 0 ? v : 0; }
std::int64_t CountOfUint(std::uint64_t v) {
    return v <= static_cast<std::uint64_t>(INT64_MAX) ? static_cast<std::int64_t>(v) : 0;
}
std::int64_t CountOfDouble(double d) {
    return d >= 0 && d < 9.0e18 ? static_cast<std::int64_t>(d) : 0;
}

// The SAX handler: follows the path of every value through the table, copies the values
// of the read members, and stops (declining) where the document decoder must answer.
class Extractor {
public:
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

    Extractor(const Node* nodes, int count, bool want_type, StreamStep& step, Fields& fields)
        : nodes_(nodes), count_(count), want_type_(want_type), step_(step), fields_(fields) {}

    bool declined() const { return declined_; }
    // The pieces of text-member strings read, and the last one (see TextSpan).
    int text_pieces() const { return text_pieces_; }
    json_view last_text() const { return last_text_; }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }

    bool on_object_begin(error_code& ec) {
        const int node = BeginValue();
        if (!Present(node, /*is_object=*/true, ec)) return false;
        if (node >= 0) {
            for (int i = 0; i < count_; ++i) {
                if (nodes_[i].parent == node) seen_ &= ~(1u << i);
            }
            if (nodes_[node].slot == Slot::kPart) {
                part_start_ = step_.delta.size();
                part_thought_ = false;
            }
        }
        return Push(node, /*array=*/false, ec);
    }

    bool on_object_end(std::size_t, error_code&) {
        const int node = frames_[depth_ - 1].node;
        --depth_;
        if (node >= 0 && nodes_[node].slot == Slot::kPart && part_thought_) {
            step_.delta.resize(part_start_);
        }
        return true;
    }

    bool on_array_begin(error_code& ec) {
        const int node = BeginValue();
        if (!Present(node, /*is_object=*/false, ec)) return false;
        return Push(node, /*array=*/true, ec);
    }

    bool on_array_end(std::size_t, error_code&) {
        --depth_;
        return true;
    }

    bool on_key_part(json_view s, std::size_t, error_code&) {
        key_.append(s.data(), s.size());
        return true;
    }

    bool on_key(json_view s, std::size_t, error_code& ec) {
        std::string_view key(s.data(), s.size());
        if (!key_.empty()) {
            key_.append(s.data(), s.size());
            key = key_;
        }
        pending_ = -1;
        const int parent = frames_[depth_ - 1].node;
        if (parent >= 0) {
            for (int i = 0; i < count_; ++i) {
                const Node& n = nodes_[i];
                if (n.parent != parent || n.edge != Edge::kMember || n.key != key) continue;
                // The document keeps the last of duplicate members; leave those to it.
                if ((seen_ & (1u << i)) != 0) return Decline(ec);
                seen_ |= 1u << i;
                pending_ = i;
                break;
            }
        }
        key_.clear();
        return true;
    }

    bool on_string_part(json_view s, std::size_t, error_code& ec) {
        if (!in_string_ && !BeginString(ec)) return false;
        Take(s);
        return true;
    }

    bool on_string(json_view s, std::size_t, error_code& ec) {
        if (!in_string_ && !BeginString(ec)) return false;
        Take(s);
        in_string_ = false;
        target_ = nullptr;
        in_text_ = false;
        return true;
    }

    bool on_number_part(json_view, error_code&) { return true; }
    bool on_int64(std::int64_t v, json_view, error_code& ec) { return Count(CountOfInt(v), ec); }
    bool on_uint64(std::uint64_t v, json_view, error_code& ec) { return Count(CountOfUint(v), ec); }
    bool on_double(double v, json_view, error_code& ec) { return Count(CountOfDouble(v), ec); }

    bool on_bool(bool b, error_code& ec) {
        const int node = BeginValue();
        if (!Present(node, /*is_object=*/false, ec)) return false;
        if (node >= 0 && nodes_[node].slot == Slot::kPartThought) part_thought_ = b;
        return true;
    }

    bool on_null(error_code& ec) {
        // A null member is an absent one (wire.cpp's Member); only the root must not be null.
        const int node = BeginValue();
        if (node == 0) return Decline(ec);
        if (node >= 0 && nodes_[node].slot == Slot::kDecline) return Decline(ec);
        return true;
    }

    bool on_comment_part(json_view, error_code&) { return true; }
    bool on_comment(json_view, error_code&) { return true; }

private:
    struct Frame {
        int node;  // -1: not on a read path
        bool array;
        std::size_t index;
    };

    // The node of the value that starts now (-1 when nothing reads it).
    int BeginValue() {
        if (depth_ == 0) return 0;
        Frame& top = frames_[depth_ - 1];
        if (!top.array) {
            const int node = pending_;
            pending_ = -1;
            return node;
        }
        const std::size_t index = top.index++;
        if (top.node < 0) return -1;
        for (int i = 0; i < count_; ++i) {
            const Node& n = nodes_[i];
            if (n.parent != top.node) continue;
            if (n.edge == Edge::kEach || (n.edge == Edge::kFirst && index == 0)) return i;
        }
        return -1;
    }

    // A non-null value starts at `node`: the checks every kind of value shares.
    bool Present(int node, bool is_object, error_code& ec) {
        if (node == 0 && !is_object) return Decline(ec);  // the root must be an object
        if (node < 0) return true;
        switch (nodes_[node].slot) {
            case Slot::kDecline:
                return Decline(ec);
            case Slot::kUsage:
                fields_.usage = true;
                fields_.usage_object = is_object;
                break;
            case Slot::kMessageUsage:
                fields_.message_usage = true;
                break;
            default:
                break;
        }
        return true;
    }

    bool Push(int node, bool array, error_code& ec) {
        // parse_options' max_depth (32) stops the parser well before this.
        if (depth_ == frames_.size()) return Decline(ec);
        frames_[depth_++] = Frame{node, array, 0};
        return true;
    }

    bool BeginString(error_code& ec) {
        const int node = BeginValue();
        if (!Present(node, /*is_object=*/false, ec)) return false;
        in_string_ = true;
        target_ = node < 0 ? nullptr : TargetOf(nodes_[node].slot);
        in_text_ = node >= 0 && IsText(nodes_[node].slot);
        return true;
    }

    static bool IsText(Slot slot) {
        return slot == Slot::kDeltaText || slot == Slot::kBlockText || slot == Slot::kContent ||
               slot == Slot::kPartText;
    }

    void Take(json_view s) {
        if (target_ != nullptr) target_->append(s.data(), s.size());
        if (in_text_) {
            ++text_pieces_;
            last_text_ = s;
        }
    }

    std::string* TargetOf(Slot slot) {
        switch (slot) {
            case Slot::kType:
                return want_type_ ? &fields_.type : nullptr;
            case Slot::kDeltaType:
                return &fields_.delta_type;
            case Slot::kDeltaText:
                return &fields_.delta_text;
            case Slot::kStopReason:
            case Slot::kFinishReason:
                return &step_.finish_reason;
            case Slot::kBlockType:
                return &fields_.block_type;
            case Slot::kBlockText:
                return &fields_.block_text;
            case Slot::kContent:
            case Slot::kPartText:
                return &step_.delta;
            case Slot::kRefusal:
                return &step_.refusal;
            default:
                return nullptr;
        }
    }

    bool Count(std::int64_t value, error_code& ec) {
        const int node = BeginValue();
        if (!Present(node, /*is_object=*/false, ec)) return false;
        if (node < 0) return true;
        switch (nodes_[node].slot) {
            case Slot::kInput:
                fields_.input = value;
                break;
            case Slot::kOutput:
                fields_.output = value;
                break;
            case Slot::kMessageInput:
                fields_.message_input = value;
                break;
            case Slot::kMessageOutput:
                fields_.message_output = value;
                break;
            default:
                break;
        }
        return true;
    }

    bool Decline(error_code& ec) {
        declined_ = true;
        ec = boost::json::error::exception;
        return false;
    }

    const Node* nodes_;
    int count_;
    bool want_type_;
    StreamStep& step_;
    Fields& fields_;
    std::array<Frame, 40> frames_{};
    std::size_t depth_ = 0;
    int pending_ = -1;
    std::uint32_t seen_ = 0;
    std::string key_;  // a key split in parts (escapes)
    bool in_string_ = false;
    std::string* target_ = nullptr;
    bool in_text_ = false;
    int text_pieces_ = 0;
    json_view last_text_;
    std::size_t part_start_ = 0;
    bool part_thought_ = false;
    bool declined_ = false;
};

template <std::size_t N>
Extraction Run(const Node (&nodes)[N], bool want_type, std::string_view data, StreamStep& step,
               Fields& fields, TextSpan* text) {
    static_assert(N <= 32, "seen_ holds one bit per node");
    boost::json::basic_parser<Extractor> parser(boost::json::parse_options{}, nodes,
                                                static_cast<int>(N), want_type, step, fields);
    error_code ec;
    const std::size_t n = parser.write_some(false, data.data(), data.size(), ec);
    if (parser.handler().declined()) return Extraction::kDeclined;
    if (ec || n != data.size()) return Extraction::kMalformed;
    if (text != nullptr && parser.handler().text_pieces() == 1) {
        // In place: an unescaped string of the input (an escaped one comes from the
        // parser's own buffer).
        const json_view s = parser.handler().last_text();
        const auto begin = reinterpret_cast<std::uintptr_t>(data.data());
        const auto at = reinterpret_cast<std::uintptr_t>(s.data());
        if (at >= begin && at + s.size() <= begin + data.size()) {
            text->offset = static_cast<std::size_t>(at - begin);
            text->size = s.size();
            text->found = true;
        }
    }
    return Extraction::kDecoded;
}

Usage UsageOf(std::int64_t input, std::int64_t output) {
    Usage usage;
    usage.input_tokens = input;
    usage.output_tokens = output;
    return usage;
}

}  // namespace

bool IsPlainJsonText(std::string_view text) {
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e || c == '"' || c == '\\') return false;
    }
    return true;
}

Extraction ExtractStreamStep(Format format, std::string_view event_type, std::string_view data,
                             StreamStep& step, TextSpan* text) {
    if (text != nullptr) *text = TextSpan{};
    Fields fields;
    switch (format) {
        case Format::kAnthropic: {
            const Extraction e = Run(kAnthropic, event_type.empty(), data, step, fields, text);
            if (e != Extraction::kDecoded) return e;
            // DecodeAnthropic: the event's type decides which members count.
            const std::string_view type = event_type.empty() ? fields.type : event_type;
            std::string stop_reason = std::move(step.finish_reason);
            step = StreamStep{};
            if (type == "content_block_delta") {
                if (fields.delta_type == "text_delta") step.delta = std::move(fields.delta_text);
            } else if (type == "content_block_start") {
                if (fields.block_type == "text") step.delta = std::move(fields.block_text);
            } else if (type == "message_start") {
                if (fields.message_usage) {
                    step.usage = UsageOf(fields.message_input, fields.message_output);
                }
            } else if (type == "message_delta") {
                if (fields.usage) step.usage = UsageOf(fields.input, fields.output);
                step.finish_reason = std::move(stop_reason);
            } else if (type == "message_stop") {
                step.done = true;
            } else if (type == "error") {
                return Extraction::kDeclined;
            }
            return Extraction::kDecoded;
        }
        case Format::kOpenAi: {
            const Extraction e = Run(kOpenAi, false, data, step, fields, text);
            if (e != Extraction::kDecoded) return e;
            if (fields.usage_object) step.usage = UsageOf(fields.input, fields.output);
            return Extraction::kDecoded;
        }
        case Format::kGemini: {
            const Extraction e = Run(kGemini, false, data, step, fields, text);
            if (e != Extraction::kDecoded) return e;
            if (!step.finish_reason.empty()) step.done = true;
            if (fields.usage_object) step.usage = UsageOf(fields.input, fields.output);
            return Extraction::kDecoded;
        }
    }
    return Extraction::kDeclined;
}

}  // namespace aragora::agents::wire::detail
