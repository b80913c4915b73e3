// Logging: spdlog's default logger, configured once by the composition root. Thread-safe.
// Use BFS_LOG_INFO("export {} added", name) etc.; no per-operation logging at info level.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace bucketfs {

// Sets the default logger to stderr with the given level ("trace".."off"). Returns false for an
// unknown level name.
bool InitLogging(std::string_view level);

// Whether `level` names a log level InitLogging takes.
bool IsLogLevel(std::string_view level);

// Changes the level of the running logger (a config reload); false for an unknown level name.
bool SetLogLevel(std::string_view level);

}  // namespace bucketfs

#define BFS_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define BFS_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define BFS_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define BFS_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define BFS_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
