# afmpeg: openh264 platform file for wasm32-wasi (copied into build/ of the source tree at build
# time). Like the Linux one, without -fPIC, threads or the stack protector; static library only.
SHAREDLIBSUFFIX = so
SHAREDLIBSUFFIXFULLVER = $(SHAREDLIBSUFFIX)
SHAREDLIBSUFFIXMAJORVER = $(SHAREDLIBSUFFIX)
CFLAGS += -Wall -fno-strict-aliasing -MMD -MP
LDFLAGS +=
STATIC_LDFLAGS += -lm
AR_OPTS = crD $@
