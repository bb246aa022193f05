# The sinks' tests (docs/govern.md): tests/unit/test_sinks.c is picked up by
# the unit tests' glob; tests/cli/sinks.sh by the CLI tests' glob.  The
# CLI test writes its decision logs with obligation-write, which it finds
# beside the aalgate binary (this file is included from the top-level
# CMakeLists.txt, so the tool is built there).
add_executable(obligation-write tests/tools/obligation-write.c)
target_link_libraries(obligation-write PRIVATE aalgate)
