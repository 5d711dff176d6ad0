// The NS/CF value classes the framework's API passes around (toll-free bridged: a CF...Create
// function returns the same object an NS factory would). Shared with iosurface.cpp and
// ane_classes.cpp, which read their arguments through these structs.
#pragma once

#include <string>
#include <vector>

#include "runtime.h"

namespace anemock {

struct NSData : Object {
  std::string bytes;
};
struct NSString : Object {
  std::string utf8;
};
struct NSNumber : Object {
  int64_t value = 0;
};
struct NSDictionary : Object {
  std::vector<std::pair<Object*, Object*>> entries;  // both retained
};
struct NSArray : Object {
  std::vector<Object*> items;  // retained
};
struct NSError : Object {
  long code = 0;
  std::string message;
};

// New objects at +1 (the caller releases or autoreleases them).
NSString* new_string(const std::string& utf8);
NSError* new_error(long code, const std::string& message);
// The value for a string key (compared by content), or nullptr.
Object* dict_get(const NSDictionary* d, const std::string& key);
// Every key of `d` as a string (fatal, naming `what`, if a key is not an NSString).
std::vector<std::string> dict_string_keys(const NSDictionary* d, const char* what);

}  // namespace anemock
