# Writes the build facts header (src/common/build_info.hpp.in) at build time, so that a
# tree configured at one commit and built at a later one names the later commit
# (`--version`, /health/build). The header is rewritten only when the commit differs from
# the one it names: its build time is when this tree first built that commit, and an
# unchanged commit recompiles nothing.
#   cmake -DSRC_DIR=<source> -DIN_FILE=<build_info.hpp.in> -DOUT_FILE=<header> -DPROJECT_VERSION=<v>
#         -P cmake/build_info.cmake
foreach(var SRC_DIR IN_FILE OUT_FILE PROJECT_VERSION)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "build_info.cmake: ${var} is not set")
    endif()
endforeach()
execute_process(COMMAND git rev-parse HEAD WORKING_DIRECTORY ${SRC_DIR}
                OUTPUT_VARIABLE ARAGORA_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT ARAGORA_GIT_SHA)
    set(ARAGORA_GIT_SHA "unknown")
endif()
if(EXISTS ${OUT_FILE})
    file(READ ${OUT_FILE} current)
    string(FIND "${current}" "kGitSha = \"${ARAGORA_GIT_SHA}\";" at)
    if(NOT at EQUAL -1)
        return()
    endif()
endif()
string(TIMESTAMP ARAGORA_BUILD_TIME "%Y-%m-%dT%H:%M:%SZ" UTC)
configure_file(${IN_FILE} ${OUT_FILE} @ONLY)
