// Parsing of everything credentials come in: shared credentials/config files with profiles, STS
// XML, container/IMDS/credential_process JSON, and their expiration times.
#include "objstore/credentials.h"

#include <gtest/gtest.h>

namespace bucketfs::objstore {
namespace {

using std::chrono::system_clock;

system_clock::time_point Utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return system_clock::from_time_t(timegm(&tm));
}

TEST(CredentialsTimeTest, ParsesTheFormsAwsWrites) {
  EXPECT_EQ(*ParseCredentialsTime("2024-05-01T12:00:00Z"), Utc(2024, 5, 1, 12, 0, 0));
  EXPECT_EQ(*ParseCredentialsTime("2024-05-01T12:00:00.250Z"),
            Utc(2024, 5, 1, 12, 0, 0) + std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseCredentialsTime(" 2024-05-01T14:30:00+02:30\n"), Utc(2024, 5, 1, 12, 0, 0));
  EXPECT_EQ(*ParseCredentialsTime("2024-05-01T10:00:00-02:00"), Utc(2024, 5, 1, 12, 0, 0));
}

TEST(CredentialsTimeTest, RejectsWhatIsNotOne) {
  for (const char* bad : {"", "tomorrow", "2024-05-01", "2024-05-01T12:00:00",
                          "2024-13-01T12:00:00Z", "2024-05-01T12:00:00Zjunk", "1714564800"}) {
    auto t = ParseCredentialsTime(bad);
    EXPECT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

constexpr char kCredentialsFile[] = R"(# keys
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key=secretdefault

[dev]
aws_access_key_id = AKIDDEV
aws_secret_access_key = secretdev
aws_session_token = tokendev
; a comment
[both]
aws_access_key_id = AKIDFROMCREDENTIALS
)";

constexpr char kConfigFile[] = R"([default]
region = eu-west-1
s3 =
  max_concurrent_requests = 20
  aws_access_key_id = NOT_A_KEY

[profile both]
aws_access_key_id = AKIDFROMCONFIG
aws_secret_access_key = secretfromconfig

[profile  configonly ]
aws_access_key_id = AKIDCONFIG
aws_secret_access_key = secretconfig

[profile k8s]
role_arn = arn:aws:iam::123456789012:role/bucketfs
web_identity_token_file = /var/run/secrets/token
role_session_name = pod-1

[profile proc]
credential_process = /usr/bin/get-creds --json

[profile assume]
role_arn = arn:aws:iam::123456789012:role/other
source_profile = default

[dev]
aws_access_key_id = IGNORED_WITHOUT_PROFILE_PREFIX
)";

class SharedProfileTest : public ::testing::Test {
 protected:
  Result<SharedProfile> Find(const std::string& profile) {
    return FindSharedProfile(ParseIni(kCredentialsFile), ParseIni(kConfigFile), profile);
  }
};

TEST_F(SharedProfileTest, DefaultProfileFromTheCredentialsFile) {
  auto p = Find("default");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->credentials.access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(p->credentials.secret_access_key, "secretdefault");
  EXPECT_EQ(p->credentials.session_token, "");
  EXPECT_FALSE(p->credentials.expiration);
}

TEST_F(SharedProfileTest, NamedProfileWithSessionToken) {
  auto p = Find("dev");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->credentials.access_key_id, "AKIDDEV");
  EXPECT_EQ(p->credentials.session_token, "tokendev");
}

TEST_F(SharedProfileTest, ConfigFileProfileSection) {
  auto p = Find("configonly");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->credentials.access_key_id, "AKIDCONFIG");
  EXPECT_EQ(p->credentials.secret_access_key, "secretconfig");
}

TEST_F(SharedProfileTest, CredentialsFileWinsKeyByKey) {
  auto p = Find("both");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->credentials.access_key_id, "AKIDFROMCREDENTIALS");
  EXPECT_EQ(p->credentials.secret_access_key, "secretfromconfig");
}

TEST_F(SharedProfileTest, WebIdentityProcessAndAssumeRoleSettings) {
  auto k8s = Find("k8s");
  ASSERT_TRUE(k8s.ok());
  EXPECT_EQ(k8s->credentials.access_key_id, "");
  EXPECT_EQ(k8s->role_arn, "arn:aws:iam::123456789012:role/bucketfs");
  EXPECT_EQ(k8s->web_identity_token_file, "/var/run/secrets/token");
  EXPECT_EQ(k8s->role_session_name, "pod-1");
  auto proc = Find("proc");
  ASSERT_TRUE(proc.ok());
  EXPECT_EQ(proc->credential_process, "/usr/bin/get-creds --json");
  auto assume = Find("assume");
  ASSERT_TRUE(assume.ok());
  EXPECT_EQ(assume->source_profile, "default");
}

TEST_F(SharedProfileTest, NestedSettingsAreNotKeys) {
  IniFile config = ParseIni(kConfigFile);
  EXPECT_EQ(config["default"]["region"], "eu-west-1");
  EXPECT_EQ(config["default"].count("aws_access_key_id"), 0u);
  EXPECT_EQ(config["default"].count("max_concurrent_requests"), 0u);
}

TEST_F(SharedProfileTest, MissingProfileIsNotFound) {
  auto p = Find("nosuch");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(p.status().message().find("nosuch"), std::string::npos);
  // A config-file section without the "profile " prefix is not the profile.
  auto only_config = FindSharedProfile({}, ParseIni(kConfigFile), "dev");
  EXPECT_FALSE(only_config.ok());
}

TEST(StsXmlTest, AssumeRoleWithWebIdentityReply) {
  const std::string xml =
      R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
    <Credentials>
      <SessionToken>FwoGZXIvYXdzE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI</SecretAccessKey>
      <Expiration>2024-05-01T13:00:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";
  auto c = ParseStsCredentials(xml);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAEXAMPLE");
  EXPECT_EQ(c->secret_access_key, "wJalrXUtnFEMI");
  EXPECT_EQ(c->session_token, "FwoGZXIvYXdzE");
  ASSERT_TRUE(c->expiration);
  EXPECT_EQ(*c->expiration, Utc(2024, 5, 1, 13, 0, 0));
}

TEST(StsXmlTest, ErrorReplyCarriesCodeAndMessage) {
  auto c = ParseStsCredentials(R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>
    <Message>Couldn't retrieve verification key from your identity provider</Message></Error>
  <RequestId>x</RequestId></ErrorResponse>)");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kAuth);
  EXPECT_EQ(c.status().message(),
            "InvalidIdentityToken: Couldn't retrieve verification key from your identity provider");
}

TEST(StsXmlTest, GarbageIsAProtocolError) {
  EXPECT_EQ(ParseStsCredentials("not xml <").status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(ParseStsCredentials("<Other/>").status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(ParseStsCredentials("<R><X><Credentials><AccessKeyId>A</AccessKeyId></Credentials>"
                                "</X></R>")
                .status()
                .code(),
            ErrorCode::kProtocol);
  auto bad_time = ParseStsCredentials(
      "<R><X><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
      "<Expiration>soon</Expiration></Credentials></X></R>");
  EXPECT_EQ(bad_time.status().code(), ErrorCode::kProtocol);
}

TEST(CredentialsJsonTest, ContainerEndpointReply) {
  auto c =
      ParseCredentialsJson(R"({"AccessKeyId":"ASIACONTAINER","Expiration":"2024-05-01T13:00:00Z",
    "RoleArn":"arn:aws:iam::1:role/task","SecretAccessKey":"s3cr3t","Token":"tok"})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIACONTAINER");
  EXPECT_EQ(c->secret_access_key, "s3cr3t");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(*c->expiration, Utc(2024, 5, 1, 13, 0, 0));
}

TEST(CredentialsJsonTest, InstanceMetadataReply) {
  auto c = ParseCredentialsJson(R"({
  "Code" : "Success",
  "LastUpdated" : "2024-05-01T12:00:00Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "ASIAIMDS",
  "SecretAccessKey" : "imdssecret",
  "Token" : "imdstoken",
  "Expiration" : "2024-05-01T18:00:00Z"
})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAIMDS");
  EXPECT_EQ(*c->expiration, Utc(2024, 5, 1, 18, 0, 0));
  auto failed = ParseCredentialsJson(R"({"Code":"AssumeRoleUnauthorizedAccess","Message":"no"})");
  EXPECT_EQ(failed.status().code(), ErrorCode::kAuth);
  EXPECT_NE(failed.status().message().find("AssumeRoleUnauthorizedAccess"), std::string::npos);
}

TEST(CredentialsJsonTest, CredentialProcessOutput) {
  auto c = ParseCredentialsJson(
      R"({"Version":1,"AccessKeyId":"AKIDPROC","SecretAccessKey":"p","SessionToken":"st"})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->session_token, "st");
  EXPECT_FALSE(c->expiration);  // long-term: no Expiration
}

TEST(CredentialsJsonTest, Malformed) {
  EXPECT_EQ(ParseCredentialsJson("{").status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(ParseCredentialsJson("[1]").status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(ParseCredentialsJson(R"({"AccessKeyId":"A"})").status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(ParseCredentialsJson(R"({"AccessKeyId":"A","SecretAccessKey":"S","Expiration":7})")
                .status()
                .code(),
            ErrorCode::kOk);
  EXPECT_EQ(ParseCredentialsJson(R"({"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"x"})")
                .status()
                .code(),
            ErrorCode::kProtocol);
}

}  // namespace
}  // namespace bucketfs::objstore
