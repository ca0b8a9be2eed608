#pragma once
// Wording shared by the communication error messages.

#include <chrono>
#include <exception>
#include <string>
#include <vector>

namespace xdit::parallel {

// "0, 1, 3"
std::string rank_list(const std::vector<int>& ranks);
// "2.5 s"
std::string seconds_text(std::chrono::milliseconds duration);
// "4.0 KiB"
std::string byte_size(int64_t bytes);
// The message of any exception; c10's without the C++ backtrace it appends,
// which is noise in a message for users.
std::string message_of(const std::exception_ptr& error);

}  // namespace xdit::parallel
