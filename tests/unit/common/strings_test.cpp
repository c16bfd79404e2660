#include "common/strings.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace aragora::common {
namespace {

using SV = std::string_view;

TEST(StringsTest, CaseIsAsciiOnly) {
    EXPECT_EQ(ToLower("Content-TYPE: X"), "content-type: x");
    EXPECT_EQ(ToUpper("warn-1z"), "WARN-1Z");
    // UTF-8 bytes pass through unchanged ("Ä" is C3 84).
    EXPECT_EQ(ToLower("\xC3\x84Z"), "\xC3\x84z");
    EXPECT_EQ(ToLowerAscii('Q'), 'q');
    EXPECT_EQ(ToLowerAscii('['), '[');
    EXPECT_EQ(ToUpperAscii('`'), '`');
}

TEST(StringsTest, HexDigitValue) {
    EXPECT_EQ(HexDigitValue('0'), 0);
    EXPECT_EQ(HexDigitValue('9'), 9);
    EXPECT_EQ(HexDigitValue('a'), 10);
    EXPECT_EQ(HexDigitValue('F'), 15);
    for (char c : {'g', 'G', '/', ':', '@', '`', ' ', '\0'}) EXPECT_EQ(HexDigitValue(c), -1) << c;
}

TEST(StringsTest, IEquals) {
    EXPECT_TRUE(IEquals("Transfer-Encoding", "transfer-encoding"));
    EXPECT_TRUE(IEquals("", ""));
    EXPECT_FALSE(IEquals("chunked", "chunked "));
    EXPECT_FALSE(IEquals("a", "b"));
    // '@' and '`' are 0x20 apart from letters' cases but are not letters.
    EXPECT_FALSE(IEquals("@", "`"));
}

TEST(StringsTest, TrimRemovesAsciiWhitespaceOnly) {
    EXPECT_EQ(Trim(" \t\r\n\f\vabc d\n "), SV("abc d"));
    EXPECT_EQ(Trim("   "), SV(""));
    EXPECT_EQ(Trim(""), SV(""));
    EXPECT_EQ(Trim("x"), SV("x"));
    // A no-break space (C2 A0) is not ASCII whitespace.
    EXPECT_EQ(Trim("\xC2\xA0x"), SV("\xC2\xA0x"));
}

TEST(StringsTest, TrimOwsKeepsLineBreaks) {
    EXPECT_EQ(TrimOws(" \tgzip \t"), SV("gzip"));
    EXPECT_EQ(TrimOws("\r\nx\n"), SV("\r\nx\n"));
}

TEST(StringsTest, SplitKeepsEmptyPieces) {
    EXPECT_EQ(Split("a,,b", ','), (std::vector<SV>{"a", "", "b"}));
    EXPECT_EQ(Split("", ','), (std::vector<SV>{""}));
    EXPECT_EQ(Split(",", ','), (std::vector<SV>{"", ""}));
    EXPECT_EQ(Split("abc", ','), (std::vector<SV>{"abc"}));
    const std::string text = "x/y";
    const auto pieces = Split(text, '/');
    ASSERT_EQ(pieces.size(), 2u);
    EXPECT_EQ(pieces[1].data(), text.data() + 2);  // views into the input
}

TEST(StringsTest, Join) {
    EXPECT_EQ(Join({"a", "b", "c"}, ", "), "a, b, c");
    EXPECT_EQ(Join({"only"}, ", "), "only");
    EXPECT_EQ(Join({}, ", "), "");
    EXPECT_EQ(Join({"", ""}, ";"), ";");
}

TEST(StringsTest, HtmlEscape) {
    EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"),
              "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    EXPECT_EQ(HtmlEscape("plain \xC3\xA9"), "plain \xC3\xA9");
    EXPECT_EQ(HtmlEscape(std::string_view("a\0b", 3)), std::string("a\0b", 3));
}

TEST(StringsTest, MarkdownEscapeTurnsHtmlIntoText) {
    EXPECT_EQ(MarkdownEscape("<script>x & y</script>"), "&lt;script&gt;x &amp; y&lt;/script&gt;");
    // Quotes and Markdown punctuation stay as written.
    EXPECT_EQ(MarkdownEscape("\"*it*\" | 'q'"), "\"*it*\" | 'q'");
}

TEST(StringsTest, MarkdownTableCellIsOneEscapedLine) {
    EXPECT_EQ(MarkdownTableCell("a|b\r\nc<d>"), "a\\|b  c&lt;d&gt;");
    EXPECT_EQ(MarkdownTableCell(""), "");
}

}  // namespace
}  // namespace aragora::common
