#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace bucketfs {

bool IsLogLevel(std::string_view level) {
  return level == "off" || spdlog::level::from_str(std::string(level)) != spdlog::level::off;
}

bool SetLogLevel(std::string_view level) {
  if (!IsLogLevel(level)) return false;
  spdlog::default_logger()->set_level(spdlog::level::from_str(std::string(level)));
  return true;
}

bool InitLogging(std::string_view level) {
  if (!IsLogLevel(level)) return false;
  auto lvl = spdlog::level::from_str(std::string(level));
  auto logger = spdlog::stderr_color_mt("bucketfs");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace bucketfs
