// SPDX-License-Identifier: Apache-2.0
// ctest version_check: <tbbx/version.h> agrees with the CMake project version
// (passed in as TBBX_CMAKE_PROJECT_VERSION) and with itself.
#include <tbbx/version.h>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  const std::string parts = std::to_string(TBBX_VERSION_MAJOR) + "." +
                            std::to_string(TBBX_VERSION_MINOR) + "." +
                            std::to_string(TBBX_VERSION_PATCH);
  static_assert(TBBX_VERSION == TBBX_VERSION_MAJOR * 10000 +
                                    TBBX_VERSION_MINOR * 100 +
                                    TBBX_VERSION_PATCH);
  int failures = 0;
  if (parts != TBBX_VERSION_STRING) {
    std::printf("FAIL: TBBX_VERSION_STRING %s, numbers say %s\n",
                TBBX_VERSION_STRING, parts.c_str());
    ++failures;
  }
  if (std::strcmp(TBBX_VERSION_STRING, TBBX_CMAKE_PROJECT_VERSION) != 0) {
    std::printf("FAIL: version.h says %s, CMake project says %s\n",
                TBBX_VERSION_STRING, TBBX_CMAKE_PROJECT_VERSION);
    ++failures;
  }
  if (failures == 0) std::printf("ok: tbbx %s\n", TBBX_VERSION_STRING);
  return failures == 0 ? 0 : 1;
}
