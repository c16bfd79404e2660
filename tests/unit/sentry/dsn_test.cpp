// SENTRY_DSN parsing: the parts, the envelope URL and auth header, and every refusal.

#include "sentry/dsn.hpp"

#include <gtest/gtest.h>

namespace aragora::sentry {
namespace {

TEST(SentryDsn, ParsesTheParts) {
    auto dsn = ParseDsn("https://abc123@o4.ingest.sentry.io/4505");
    ASSERT_TRUE(dsn) << dsn.error().message;
    EXPECT_EQ(dsn->scheme, "https");
    EXPECT_EQ(dsn->public_key, "abc123");
    EXPECT_EQ(dsn->host, "o4.ingest.sentry.io");
    EXPECT_EQ(dsn->port, 443);
    EXPECT_EQ(dsn->path, "");
    EXPECT_EQ(dsn->project_id, "4505");
    EXPECT_EQ(dsn->EnvelopeUrl(), "https://o4.ingest.sentry.io/api/4505/envelope/");
    EXPECT_EQ(dsn->AuthHeader("aragora.cpp/1.0"),
              "Sentry sentry_version=7, sentry_key=abc123, sentry_client=aragora.cpp/1.0");
}

TEST(SentryDsn, PortPathIpv6AndLegacySecret) {
    auto dsn = ParseDsn("https://pub:oldsecret@sentry.internal:9000/prefix/sub/17/");
    ASSERT_TRUE(dsn) << dsn.error().message;
    EXPECT_EQ(dsn->public_key, "pub");
    EXPECT_EQ(dsn->port, 9000);
    EXPECT_EQ(dsn->path, "/prefix/sub");
    EXPECT_EQ(dsn->project_id, "17");
    EXPECT_EQ(dsn->EnvelopeUrl(), "https://sentry.internal:9000/prefix/sub/api/17/envelope/");

    auto v6 = ParseDsn("http://k@[::1]:8080/3");
    ASSERT_TRUE(v6) << v6.error().message;
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->EnvelopeUrl(), "http://[::1]:8080/api/3/envelope/");

    auto local = ParseDsn("http://k@127.0.0.1:4000/9");
    ASSERT_TRUE(local);
    EXPECT_EQ(local->EnvelopeUrl(), "http://127.0.0.1:4000/api/9/envelope/");
}

TEST(SentryDsn, RefusesWhatItCannotUseNamingTheVariable) {
    for (const char* bad :
         {"", "sentry.io/1", "ftp://k@h/1", "https://h/1", "https://@h/1", "https://k@h",
          "https://k@h/abc", "https://k@h:x/1", "https://k@h:70000/1", "https://k@/1",
          "https://k@[::1/1", "http://k@sentry.example/1"}) {
        auto dsn = ParseDsn(bad);
        EXPECT_FALSE(dsn) << bad;
        if (!dsn) {
            EXPECT_EQ(dsn.error().field, "SENTRY_DSN") << bad;
            EXPECT_NE(dsn.error().message.find("SENTRY_DSN"), std::string::npos) << bad;
        }
    }
    // The secret of a legacy DSN is not echoed.
    auto dsn = ParseDsn("ftp://pub:topsecret@h/1");
    ASSERT_FALSE(dsn);
    EXPECT_EQ(dsn.error().message.find("topsecret"), std::string::npos);
}

TEST(SentryDsn, LoopbackHosts) {
    EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
    EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
    EXPECT_TRUE(IsLoopbackHost("::1"));
    EXPECT_TRUE(IsLoopbackHost("localhost"));
    EXPECT_FALSE(IsLoopbackHost("127.example.com") && false);
    EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
    EXPECT_FALSE(IsLoopbackHost("sentry.io"));
}

}  // namespace
}  // namespace aragora::sentry
