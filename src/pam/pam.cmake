# pam_aalgate.so (docs/man/pam_aalgate.8): a PAM module for sudo, sshd and the like
# that asks 'aalgate serve --pam-socket' whether the user holds an active
# JIT grant.  It is self-contained: it links libpam and libc, not
# libaalgate, and exports pam_sm_* only (pam_aalgate.map, with the
# project's -fvisibility=hidden).  Included from the top-level
# CMakeLists.txt.

pkg_check_modules(PAM REQUIRED IMPORTED_TARGET pam)

add_library(pam_aalgate MODULE ${PROJECT_SOURCE_DIR}/src/pam/pam_aalgate.c)
set_target_properties(pam_aalgate PROPERTIES
  PREFIX ""
  OUTPUT_NAME pam_aalgate
  LINK_DEPENDS ${PROJECT_SOURCE_DIR}/src/pam/pam_aalgate.map)
target_include_directories(pam_aalgate PRIVATE
  ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src/core)
target_link_libraries(pam_aalgate PRIVATE PkgConfig::PAM)
target_link_options(pam_aalgate PRIVATE
  -Wl,--version-script=${PROJECT_SOURCE_DIR}/src/pam/pam_aalgate.map
  -Wl,-z,relro -Wl,-z,now)
if(NOT AG_SANITIZE)
  # Every symbol it needs comes from libpam or libc.  (A sanitized build
  # takes its runtime from the process that loads it.)
  target_link_options(pam_aalgate PRIVATE -Wl,-z,defs)
endif()

include(GNUInstallDirs)
install(TARGETS pam_aalgate LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/security)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/pam_aalgate.8
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# tests/cli/pam-symbols.sh: dlopen()s the module and looks for what it
# exports.
add_executable(pam-symbols ${PROJECT_SOURCE_DIR}/tests/tools/pam-symbols.c)
target_link_libraries(pam-symbols PRIVATE ${CMAKE_DL_LIBS})
add_dependencies(pam-symbols pam_aalgate)

# tests/cli/pam.sh and pam-symbols.sh find the module and, in a sanitized
# build, the sanitizer runtime pamtester must preload to load it, here.
set(AG_PAM_PRELOAD "")
if(AG_SANITIZE)
  if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
    set(_ag_rt libclang_rt.asan-${CMAKE_SYSTEM_PROCESSOR}.so)
  else()
    set(_ag_rt libasan.so)
  endif()
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${_ag_rt}
    OUTPUT_VARIABLE AG_PAM_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/pam-test.env CONTENT
"module=$<TARGET_FILE:pam_aalgate>
symbols=$<TARGET_FILE:pam-symbols>
preload=${AG_PAM_PRELOAD}
")
