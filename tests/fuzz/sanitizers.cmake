# Included by the root CMakeLists.txt, before any library, when ARAGORA_BUILD_FUZZ is ON:
# every library of this (separate, clang) tree gets libFuzzer's coverage instrumentation
# and AddressSanitizer + UndefinedBehaviorSanitizer. The fuzz targets add
# -fsanitize=fuzzer when they link (tests/fuzz/CMakeLists.txt).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "ARAGORA_BUILD_FUZZ needs clang (libFuzzer): configure a separate "
                        "tree with -DCMAKE_CXX_COMPILER=clang++ (see tests/fuzz/README.md)")
endif()
# -O0 here; tests/fuzz/CMakeLists.txt compiles the code the targets run at -O1 (the
# coroutine TUs they only link take twice as long at -O1). Assertions stay on (no
# NDEBUG): Boost's BOOST_ASSERTs are invariant checks worth hitting. UBSan findings abort
# (a crash for libFuzzer) instead of printing and going on. -fsanitize=function is left
# out: clang 14 cannot emit it for coroutines ("Cannot represent a difference across
# sections").
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O0 -g)
# Failed BOOST_ASSERTs go to src/common/boost_assert.cpp, as in every Debug build; here
# for every file of the tree (boost_json_src.cpp too), since the fuzz tree keeps
# assertions on whatever the build type.
add_compile_definitions(BOOST_ENABLE_ASSERT_HANDLER)
add_link_options(-fsanitize=address,undefined)
