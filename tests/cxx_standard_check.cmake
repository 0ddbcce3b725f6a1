# SPDX-License-Identifier: Apache-2.0
# ctest cxx_standard_check: every public header, compiled as C++17, fails
# with exactly one diagnostic, config.h's "#error tbbx requires C++20", and
# <tbbx/tbbx.h> compiles as C++20 (so the check itself can pass and fail).
#   cmake -DCXX=<compiler> -DINCLUDE=<dir with tbbx/> -DSOURCE_DIR=<repo>
#         -DWORK_DIR=<scratch dir> -P cxx_standard_check.cmake
foreach(var CXX INCLUDE SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cxx_standard_check: -D${var}=... is missing")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK_DIR})
file(GLOB headers RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/tbbx.h ${SOURCE_DIR}/version.h
     ${SOURCE_DIR}/context/*.h ${SOURCE_DIR}/patterns/*.h ${SOURCE_DIR}/scheduler/*.h)
set(expected "tbbx requires C++20")
set(failures 0)

function(compile std header out_rc out_text)
  string(MAKE_C_IDENTIFIER ${header} id)
  set(source ${WORK_DIR}/${id}_${std}.cc)
  file(WRITE ${source} "#include <tbbx/${header}>\nint main() { return 0; }\n")
  execute_process(COMMAND ${CXX} -std=${std} -fsyntax-only -I${INCLUDE} ${source}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(${out_rc} ${rc} PARENT_SCOPE)
  set(${out_text} "${out}" PARENT_SCOPE)
endfunction()

foreach(header IN LISTS headers)
  compile(c++17 ${header} rc out)
  # Diagnostic lines ("file:line:col: error: ..."), not the quoted source.
  string(REGEX MATCHALL ":[0-9]+(:[0-9]+)?: (fatal error|error|warning):[^\n]*" diagnostics
         "${out}")
  list(LENGTH diagnostics count)
  string(FIND "${out}" "${expected}" at)
  if(rc EQUAL 0 OR NOT count EQUAL 1 OR at EQUAL -1)
    message(SEND_ERROR "<tbbx/${header}> as C++17: expected exactly one diagnostic, "
                       "'${expected}'; got ${count}:\n${out}")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "ok: <tbbx/${header}> as C++17 -> ${diagnostics}")
  endif()
endforeach()

compile(c++20 tbbx.h rc out)
if(NOT rc EQUAL 0)
  message(SEND_ERROR "<tbbx/tbbx.h> as C++20 does not compile:\n${out}")
  math(EXPR failures "${failures} + 1")
else()
  message(STATUS "ok: <tbbx/tbbx.h> as C++20 compiles")
endif()
list(LENGTH headers n)
if(failures GREATER 0)
  message(FATAL_ERROR "cxx_standard_check: ${failures} failure(s)")
endif()
message(STATUS "cxx_standard_check: ${n} headers checked")
