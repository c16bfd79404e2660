#pragma once

// The members of one streamed event that the wire decoders read, taken from the event's
// JSON as it is parsed (Boost.JSON's SAX parser), without building a document: one
// provider call streams one such event per token. Internal to agents/wire.

#include <string_view>

#include "agents/wire.hpp"

namespace aragora::agents::wire::detail {

enum class Extraction {
    kDecoded,    // `step` holds what the event means
    kDeclined,   // an error object or a shape the extractor leaves to the document decoder
    kMalformed,  // not JSON (the same grammar and limits as boost::json::parse)
};

// Decodes `data` (the event's trimmed data, not "[DONE]" and not empty) as
// CheckStreamEvent does. It declines, leaving `step` unspecified, whenever its answer could
// differ from the document decoder's: a top-level value that is not an object, an "error"
// member (and Gemini's "promptFeedback"), an Anthropic "error" event type, and a member
// the decoders read appearing twice in one object (the document keeps the last).
//
// With `text`, it also tells where the event's text lies: `found` when exactly one string
// value of a text member (delta.text, content_block.text, content, a part's text) was read,
// unescaped and in place, at data[offset, offset + size) (between its quotes).
struct TextSpan {
    std::size_t offset = 0;
    std::size_t size = 0;
    bool found = false;
};
Extraction ExtractStreamStep(Format format, std::string_view event_type, std::string_view data,
                             StreamStep& step, TextSpan* text = nullptr);

// True when `text` can stand between the quotes of a JSON string as it is and means
// itself: printable ASCII without '"' and '\\'.
bool IsPlainJsonText(std::string_view text);

}  // namespace aragora::agents::wire::detail
