# SPDX-License-Identifier: MIT
# Size gate of a stripped agent binary: prints the size and installs FILE
# as OUT only when it is at most MAX bytes (else the build fails and OUT
# is removed so that the next build tries again).
file(SIZE ${FILE} size)
math(EXPR kib "(${size} + 1023) / 1024")
if(size GREATER MAX)
  file(REMOVE ${FILE} ${OUT})
  message(FATAL_ERROR "ascend-fleet-agent-${ARCH}: ${size} bytes (${kib} KiB) "
          "exceeds the limit of ${MAX} bytes")
endif()
file(RENAME ${FILE} ${OUT})
message(STATUS "ascend-fleet-agent-${ARCH}: ${size} bytes (${kib} KiB)")
