#include "server/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace bucketfs::server {
namespace {

TEST(JsonQuoteTest, Escapes) {
  EXPECT_EQ(JsonQuote(""), R"("")");
  EXPECT_EQ(JsonQuote("plain/path.bin"), R"("plain/path.bin")");
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote("l1\nl2\r\t"), R"("l1\nl2\r\t")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(JsonQuote(std::string("nul\0", 4)), R"("nul\u0000")");
  // Well-formed UTF-8 passes through.
  EXPECT_EQ(JsonQuote("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  // Anything else becomes U+FFFD, byte by byte.
  EXPECT_EQ(JsonQuote("a\xFF"
                      "b"),
            "\"a\xEF\xBF\xBD"
            "b\"");
  EXPECT_EQ(JsonQuote("\xC3"), "\"\xEF\xBF\xBD\"");                  // truncated
  EXPECT_EQ(JsonQuote("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  EXPECT_EQ(JsonQuote("\xED\xA0\x80").size(), 2 + 3 * 3);            // a surrogate
}

TEST(JsonWriterTest, NestsAndSeparates) {
  JsonWriter w;
  w.BeginObject();
  w.Key("s").String("x");
  w.Key("n").Int(-42);
  w.Key("t").Bool(true);
  w.Key("z").Null();
  w.Key("empty").BeginArray().EndArray();
  w.Key("list").BeginArray();
  w.BeginObject().Key("a").Int(1).EndObject();
  w.BeginObject().EndObject();
  w.String("q\"");
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"s":"x","n":-42,"t":true,"z":null,"empty":[],"list":[{"a":1},{},"q\""]})");
}

TEST(JsonWriterTest, Doubles) {
  JsonWriter w;
  w.BeginArray().Double(5).Double(0.25).Double(-1e300).Double(0.1);
  w.Double(std::numeric_limits<double>::infinity()).Double(std::nan("")).EndArray();
  EXPECT_EQ(w.str(), "[5,0.25,-1e+300,0.1,null,null]");
  auto v = ParseJson(w.str());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->items()[3].number(), 0.1);
}

TEST(JsonParseTest, RoundTripsWhatTheWriterWrites) {
  JsonWriter w;
  w.BeginObject().Key("name").String("d\"e\\m\no \xE2\x82\xAC").Key("n").Int(7);
  w.Key("items").BeginArray().String("a").Int(2).Bool(false).Null().EndArray().EndObject();
  auto v = ParseJson(w.str());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->GetString("name"), "d\"e\\m\no \xE2\x82\xAC");
  ASSERT_NE(v->Find("n"), nullptr);
  EXPECT_EQ(v->Find("n")->number(), 7);
  const JsonValue* items = v->Find("items");
  ASSERT_NE(items, nullptr);
  ASSERT_EQ(items->items().size(), 4u);
  EXPECT_EQ(items->items()[0].string(), "a");
  EXPECT_EQ(items->items()[1].number(), 2);
  EXPECT_EQ(items->items()[2].type(), JsonValue::Type::kBool);
  EXPECT_EQ(items->items()[3].type(), JsonValue::Type::kNull);
  EXPECT_EQ(v->Find("absent"), nullptr);
  EXPECT_EQ(v->GetString("n", "fallback"), "fallback");
}

TEST(JsonParseTest, Escapes) {
  auto v = ParseJson(R"( ["\u00e9\u20ac\ud83d\ude00", "\/\b\f\t", -1.5e2, 0, 1E+2] )");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->items()[0].string(), "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(v->items()[1].string(), "/\b\f\t");
  EXPECT_EQ(v->items()[2].number(), -150);
  EXPECT_EQ(v->items()[3].number(), 0);
  EXPECT_EQ(v->items()[4].number(), 100);
}

TEST(JsonParseTest, RejectsMalformedInput) {
  for (const char* bad :
       {"",        "{",         "[1,]",        "{\"a\"}",     "{\"a\":1,}",
        "{a:1}",   "01",        "1.",          "-",           "+1",
        ".5",      "1e",        "tru",         "nul",         "\"abc",
        "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "[1] [2]", "\"\x01\"",  "\"\xFF\"",    "1e999"}) {
    SCOPED_TRACE(bad);
    auto v = ParseJson(bad);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), ErrorCode::kProtocol);
  }
}

TEST(JsonParseTest, BoundsNesting) {
  EXPECT_TRUE(ParseJson(std::string(60, '[') + std::string(60, ']')).ok());
  EXPECT_FALSE(ParseJson(std::string(100000, '[') + std::string(100000, ']')).ok());
}

}  // namespace
}  // namespace bucketfs::server
