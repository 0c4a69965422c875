// What native/relay.c and native/signal.c share: batch limits, IPv4-mapped addresses, the
// Node-API argument and error helpers, and allocation. A file defines SY_ADDON (the prefix of
// its error messages, "native relay") before it includes this one.
#ifndef SWITCHYARD_NATIVE_COMMON_H
#define SWITCHYARD_NATIVE_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SY_ADDON
#error "define SY_ADDON before including common.h"
#endif

#define BATCH 64           // datagrams per recvmmsg / sendmmsg
#define DRAIN_ROUNDS 4     // batches read per readiness event before other sockets get a turn
#define MAX_DATAGRAM 65536 // receive room per datagram
#define IP_TEXT 64         // room for an IP literal argument (INET6_ADDRSTRLEN is 46)

// --- allocation ------------------------------------------------------------------------------

// The sanitizer build (-DSY_FAULT_INJECTION) can make the n-th allocation from now fail, so the
// tests walk every allocation's error path under AddressSanitizer. Seq_cst: rare, and armed from
// JavaScript for allocations made on the same thread.
#ifdef SY_FAULT_INJECTION
static atomic_long sy_fail_countdown;

static int sy_injected_failure(void) {
  long left = atomic_load(&sy_fail_countdown);
  while (left > 0 && !atomic_compare_exchange_weak(&sy_fail_countdown, &left, left - 1)) {
  }
  return left == 1;
}
#else
static inline int sy_injected_failure(void) { return 0; }
#endif

static inline void *sy_calloc(size_t n, size_t size) { return sy_injected_failure() ? NULL : calloc(n, size); }
static inline void *sy_malloc(size_t size) { return sy_injected_failure() ? NULL : malloc(size); }

// --- addresses -------------------------------------------------------------------------------

// An IPv4 address as the IPv4-mapped IPv6 address ::ffff:a.b.c.d (port in network order).
static inline void sy_map_v4(struct sockaddr_in6 *out, const struct in_addr *a4, in_port_t port) {
  memset(out, 0, sizeof *out);
  out->sin6_family = AF_INET6;
  out->sin6_port = port;
  out->sin6_addr.s6_addr[10] = 0xff;
  out->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&out->sin6_addr.s6_addr[12], a4, 4);
}

// The name of an errno a caller may meet binding or starting things, as the `code` of a JS error.
static inline const char *sy_errno_code(int e) {
  switch (e) {
    case ENOMEM: return "ENOMEM";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EAGAIN: return "EAGAIN";
    case ENOBUFS: return "ENOBUFS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "SY_NATIVE";
  }
}

// --- Node-API ----------------------------------------------------------------------------------

// Evaluates a Node-API call in a binding; on failure throws (unless an exception is already
// pending) and returns NULL from the binding.
#define CHECK(call)                                                                   \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      sy_throw_failed(env, #call);                                                    \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

static inline int sy_exception_pending(napi_env env) {
  bool pending = false;
  return napi_is_exception_pending(env, &pending) == napi_ok && pending;
}

static inline void sy_throw_failed(napi_env env, const char *call) {
  if (sy_exception_pending(env)) return;
  char text[160];
  snprintf(text, sizeof text, "%s: %s failed", SY_ADDON, call);
  napi_throw_error(env, "SY_NATIVE", text);
}

// Throws an Error whose code is the errno's name: "<addon>: <what> (<strerror>)".
static inline void sy_throw_errno(napi_env env, int e, const char *what) {
  char text[200];
  snprintf(text, sizeof text, "%s: %s (%s)", SY_ADDON, what, strerror(e));
  napi_throw_error(env, sy_errno_code(e), text);
}

// An ENOMEM Error for the allocation `what` that failed.
static inline void sy_throw_no_memory(napi_env env, const char *what) {
  char text[160];
  snprintf(text, sizeof text, "%s: out of memory (%s)", SY_ADDON, what);
  napi_throw_error(env, "ENOMEM", text);
}

static inline void sy_throw_type(napi_env env, const char *what) {
  char text[160];
  snprintf(text, sizeof text, "%s: %s", SY_ADDON, what);
  napi_throw_type_error(env, "SY_NATIVE", text);
}

// The first `want` arguments of a binding (missing ones undefined); 0 with a TypeError pending
// when fewer were passed.
static inline int sy_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    sy_throw_type(env, usage);
    return 0;
  }
  return 1;
}

// An IP literal argument into `text`: 1; 0 when it is too long to be one (`text` is then "", as
// a cut string must not parse as an address); -1 with a TypeError pending when not a string.
static inline int sy_ip_text(napi_env env, napi_value v, char text[IP_TEXT], const char *what) {
  size_t len;
  if (napi_get_value_string_latin1(env, v, text, IP_TEXT, &len) != napi_ok) {
    sy_throw_type(env, what);
    return -1;
  }
  if (len < IP_TEXT - 1) return 1;
  text[0] = 0;
  return 0;
}

#ifdef SY_FAULT_INJECTION
// failAllocation(n): the n-th allocation from now fails (0: none). Sanitizer builds only.
static napi_value sy_js_fail_allocation(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t n;
  if (!sy_args(env, info, 1, argv, "failAllocation(n)")) return NULL;
  CHECK(napi_get_value_int32(env, argv[0], &n));
  atomic_store(&sy_fail_countdown, n < 0 ? 0 : n);
  return NULL;
}
#define SY_FAULT_INJECTION_PROPERTY {"failAllocation", NULL, sy_js_fail_allocation, NULL, NULL, NULL, napi_enumerable, NULL},
#else
#define SY_FAULT_INJECTION_PROPERTY
#endif

#endif
