// Signaling sockets on the main event loop with batched system calls. A readable socket is
// drained with recvmmsg, and its datagrams reach JavaScript in one call per batch instead of
// one callback (with its own microtask checkpoint) per datagram. Sends made while that call
// runs, including from the promises it settles, are queued and leave in one sendmmsg when it
// returns; sends at any other time go out at once.
//
// JavaScript sees: open(host, port, meta, onBatch, bufferBytes, onError) -> handle;
// send(handle, buf, port, address); port(handle); queue(handle) -> [bytes queued, receive buffer
// bytes, datagrams dropped]; close(handle); batch (datagrams per batch). onBatch(data, addresses,
// count, waitedUs) gets one buffer holding the batch's datagrams back to back; meta (a Uint32Array
// the caller owns) holds [offset, length, port] per datagram, addresses the source address of
// each; waitedUs is how long the batch's first (oldest) datagram waited in the socket's queue, in
// microseconds (the kernel's receive timestamp, SO_TIMESTAMPNS), or -1 when unknown.
// onError(err) hears of a batch that could not be handed over (out of memory): its datagrams
// are lost, as a full socket queue would lose them.
//
// Everything here runs on the thread of the event loop that opened the socket: no field is
// shared with another thread.
#define _GNU_SOURCE
#define SY_ADDON "native signaling"
#include "common.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define SEND_AREA (256 * 1024)

typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd; // -1 until bound
  int family; // AF_INET6 (dual-stack or v6) or AF_INET
  int open;
  int in_batch;
  int poll_closed, handle_dropped;
  napi_ref on_batch;
  napi_ref on_error;
  napi_ref meta_ref;
  napi_async_context async;
  uint32_t *meta;
  // receive
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  struct sockaddr_in6 raddr[BATCH];
  // the first datagram's receive timestamp (SCM_TIMESTAMPNS)
  char rctl[CMSG_SPACE(sizeof(struct timespec))];
  char *rbuf;
  // send queue
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  struct sockaddr_in6 saddr[BATCH];
  char *sbuf;
  size_t sused;
  int scount;
  // last destination parsed, so a reply stream to one peer parses its address once
  char last_text[IP_TEXT];
  size_t last_len;
  struct sockaddr_in6 last_addr;
} signal_socket_t;

static void flush(signal_socket_t *s) {
  int done = 0;
  while (done < s->scount) {
    int n = sendmmsg(s->fd, s->smsg + done, (unsigned)(s->scount - done), MSG_DONTWAIT);
    if (n > 0) {
      done += n;
    } else {
      if (n < 0 && errno == EINTR) continue;
      // The datagram at `done` failed (an unreachable peer, a full buffer): UDP loses it, as a
      // network would, and the rest still go.
      done++;
    }
  }
  s->scount = 0;
  s->sused = 0;
}

static int parse_address(signal_socket_t *s, const char *text, size_t len, uint16_t port, struct sockaddr_in6 *out, socklen_t *out_len) {
  if (len == s->last_len && memcmp(text, s->last_text, len) == 0) {
    *out = s->last_addr;
  } else {
    struct in_addr a4;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, &a4) == 1) {
      if (s->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_addr = a4;
      } else {
        sy_map_v4(out, &a4, 0);
      }
    } else if (inet_pton(AF_INET6, text, &out->sin6_addr) == 1) {
      if (s->family == AF_INET) {
        if (!IN6_IS_ADDR_V4MAPPED(&out->sin6_addr)) return 0;
        struct in_addr mapped;
        memcpy(&mapped, &out->sin6_addr.s6_addr[12], 4);
        memset(out, 0, sizeof *out);
        ((struct sockaddr_in *)out)->sin_family = AF_INET;
        ((struct sockaddr_in *)out)->sin_addr = mapped;
      } else {
        out->sin6_family = AF_INET6;
      }
    } else {
      return 0;
    }
    memcpy(s->last_text, text, len);
    s->last_len = len;
    s->last_addr = *out;
  }
  if (s->family == AF_INET) {
    ((struct sockaddr_in *)out)->sin_port = htons(port);
    *out_len = sizeof(struct sockaddr_in);
  } else {
    out->sin6_port = htons(port);
    *out_len = sizeof(struct sockaddr_in6);
  }
  return 1;
}

static napi_status address_string(napi_env env, const struct sockaddr_in6 *a, napi_value *out) {
  char text[INET6_ADDRSTRLEN] = "";
  if (a->sin6_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, text, sizeof text);
  else inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
  return napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, out);
}

static uint16_t source_port(const struct sockaddr_in6 *a) {
  return ntohs(a->sin6_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port : a->sin6_port);
}

// A JavaScript exception from a callback: raised as uncaught, as a throwing 'message' listener
// of node:dgram would be.
static void rethrow_pending(napi_env env) {
  napi_value err;
  if (sy_exception_pending(env) && napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
}

// Tells onError that `n` datagrams were lost because their batch could not be built.
static void report_lost(signal_socket_t *s, int n) {
  napi_env env = s->env;
  napi_value ignored;
  if (sy_exception_pending(env)) napi_get_and_clear_last_exception(env, &ignored); // V8's allocation failure, say
  char text[160];
  snprintf(text, sizeof text, "%s: out of memory: %d received datagram%s lost", SY_ADDON, n, n == 1 ? "" : "s");
  napi_value code, message, err, fn, recv, result;
  if (napi_create_string_latin1(env, "ENOMEM", NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &err) != napi_ok || napi_get_reference_value(env, s->on_error, &fn) != napi_ok ||
      napi_get_global(env, &recv) != napi_ok) {
    if (sy_exception_pending(env)) napi_get_and_clear_last_exception(env, &ignored);
    return; // no memory even for the report
  }
  if (napi_make_callback(env, s->async, recv, fn, 1, &err, &result) == napi_pending_exception) rethrow_pending(env);
}

// How long the first datagram of the batch waited in the queue, µs; -1 without its timestamp.
static double first_wait_us(signal_socket_t *s) {
  struct msghdr *h = &s->rmsg[0].msg_hdr;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec at, now;
    memcpy(&at, CMSG_DATA(c), sizeof at);
    clock_gettime(CLOCK_REALTIME, &now);
    double us = (double)(now.tv_sec - at.tv_sec) * 1e6 + (double)(now.tv_nsec - at.tv_nsec) / 1e3;
    return us < 0 ? 0 : us;
  }
  return -1;
}

// The batch's datagrams, addresses, count and wait as onBatch takes them; napi_ok or the failure.
static napi_status batch_values(signal_socket_t *s, int n, napi_value argv[4]) {
  napi_env env = s->env;
  double waited = first_wait_us(s);
  size_t total = 0;
  for (int i = 0; i < n; i++) total += s->rmsg[i].msg_len;
  void *bytes;
  napi_status st;
  if (sy_injected_failure()) return napi_generic_failure;
  if ((st = napi_create_buffer(env, total, &bytes, &argv[0])) != napi_ok) return st;
  if ((st = napi_create_array_with_length(env, (size_t)n, &argv[1])) != napi_ok) return st;
  size_t at = 0;
  napi_value previous = NULL;
  for (int i = 0; i < n; i++) {
    uint32_t len = s->rmsg[i].msg_len;
    memcpy((char *)bytes + at, s->riov[i].iov_base, len);
    s->meta[i * 3] = (uint32_t)at;
    s->meta[i * 3 + 1] = len;
    s->meta[i * 3 + 2] = source_port(&s->raddr[i]);
    // A batch mostly comes from a few peers: the previous datagram's string is reused.
    int same = i > 0 && s->rmsg[i].msg_hdr.msg_namelen == s->rmsg[i - 1].msg_hdr.msg_namelen &&
               memcmp(&s->raddr[i], &s->raddr[i - 1], s->rmsg[i].msg_hdr.msg_namelen) == 0;
    napi_value addr = previous;
    if (!same && (st = address_string(env, &s->raddr[i], &addr)) != napi_ok) return st;
    if ((st = napi_set_element(env, argv[1], (uint32_t)i, addr)) != napi_ok) return st;
    previous = addr;
    at += len;
  }
  if ((st = napi_create_uint32(env, (uint32_t)n, &argv[2])) != napi_ok) return st;
  return napi_create_double(env, waited, &argv[3]);
}

static void deliver(signal_socket_t *s, int n) {
  napi_env env = s->env;
  napi_value argv[4], fn, recv, result;
  if (batch_values(s, n, argv) != napi_ok || napi_get_reference_value(env, s->on_batch, &fn) != napi_ok ||
      napi_get_global(env, &recv) != napi_ok) { // napi_make_callback wants an object as `this`
    report_lost(s, n);
    return;
  }
  s->in_batch = 1;
  napi_status status = napi_make_callback(env, s->async, recv, fn, 4, argv, &result);
  s->in_batch = 0;
  if (s->open) flush(s);
  if (status == napi_pending_exception) rethrow_pending(env);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  signal_socket_t *s = (signal_socket_t *)poll->data;
  if (status < 0 || !s->open) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  for (int round = 0; round < DRAIN_ROUNDS && s->open; round++) {
    for (int i = 0; i < BATCH; i++) s->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    // Only the first datagram's timestamp is read: the oldest in the queue.
    s->rmsg[0].msg_hdr.msg_control = s->rctl;
    s->rmsg[0].msg_hdr.msg_controllen = sizeof s->rctl;
    int n = recvmmsg(s->fd, s->rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // ECONNREFUSED and the like report an earlier send's ICMP error, not this socket's state.
      continue;
    }
    if (n == 0) break;
    deliver(s, n);
    if (n < BATCH) break;
  }
  napi_close_handle_scope(s->env, scope);
}

static signal_socket_t *handle_of(napi_env env, napi_value v) {
  signal_socket_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || s == NULL || !s->open) {
    napi_throw_error(env, "SY_NATIVE", "native signaling: the socket is closed");
    return NULL;
  }
  return s;
}

// The socket's memory goes when both the poll handle has closed and JavaScript has dropped the
// handle, so a closed handle used again finds `open == 0` instead of freed memory.
static void release(signal_socket_t *s) {
  if (s->poll_closed && s->handle_dropped) free(s);
}

static void on_poll_closed(uv_handle_t *h) {
  signal_socket_t *s = (signal_socket_t *)h->data;
  free(s->rbuf);
  free(s->sbuf);
  s->rbuf = s->sbuf = NULL;
  s->poll_closed = 1;
  release(s);
}

static void on_handle_dropped(napi_env env, void *data, void *hint) {
  signal_socket_t *s = (signal_socket_t *)data;
  s->handle_dropped = 1;
  release(s);
}

// Gives back the JavaScript references and the async context a socket holds.
static void drop_references(napi_env env, signal_socket_t *s) {
  if (s->on_batch != NULL) napi_delete_reference(env, s->on_batch);
  if (s->on_error != NULL) napi_delete_reference(env, s->on_error);
  if (s->meta_ref != NULL) napi_delete_reference(env, s->meta_ref);
  if (s->async != NULL) napi_async_destroy(env, s->async);
  s->on_batch = s->on_error = s->meta_ref = NULL;
  s->async = NULL;
}

// Undoes an open that failed before its poll handle was initialised.
static void discard(napi_env env, signal_socket_t *s) {
  drop_references(env, s);
  if (s->fd >= 0) close(s->fd);
  free(s->rbuf);
  free(s->sbuf);
  free(s);
}

// Closes an open socket: its memory goes once the poll handle has closed and the JavaScript
// handle is dropped (or, with `handle_dropped` set, when there never was one).
static void shut(napi_env env, signal_socket_t *s) {
  if (s->scount > 0) flush(s);
  s->open = 0;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  drop_references(env, s);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

// The local address `host` (an IP literal) and `port` name; 0 when host is not an IP literal.
static int local_address(const char *host, uint32_t port, struct sockaddr_in6 *out, socklen_t *out_len) {
  struct in_addr a4;
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, host, &a4) == 1) {
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    in->sin_addr = a4;
    *out_len = sizeof *in;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &out->sin6_addr) == 1) {
    out->sin6_family = AF_INET6;
    out->sin6_port = htons((uint16_t)port);
    *out_len = sizeof *out;
    return 1;
  }
  return 0;
}

// Opens the socket's fd bound to `local`; 0 or an errno.
static int bind_socket(signal_socket_t *s, const struct sockaddr_in6 *local, socklen_t local_len, int buffer_bytes) {
  s->family = local->sin6_family;
  s->fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) return errno;
  int off = 0;
  if (s->family == AF_INET6) setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  // A deep queue rides out bursts; the kernel caps it at net.core.rmem_max / wmem_max.
  if (buffer_bytes > 0) {
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
  }
  // Receive timestamps: how long a batch waited in the queue (overload control's measure).
  int on = 1;
  setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  return bind(s->fd, (const struct sockaddr *)local, local_len) < 0 ? errno : 0;
}

// open(host, port, meta: Uint32Array(3 * batch), onBatch, bufferBytes, onError) -> handle; throws
// an Error whose code is the errno's name (EADDRINUSE, ENOMEM...) when the socket cannot be had.
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  const char *usage = "open(host, port, meta, onBatch, bufferBytes, onError)";
  if (!sy_args(env, info, 6, argv, usage)) return NULL;
  char host[IP_TEXT];
  uint32_t port;
  int32_t buffer_bytes;
  napi_valuetype on_batch_type, on_error_type;
  int host_text = sy_ip_text(env, argv[0], host, usage);
  if (host_text < 0) return NULL;
  if (napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535 ||
      napi_get_value_int32(env, argv[4], &buffer_bytes) != napi_ok || napi_typeof(env, argv[3], &on_batch_type) != napi_ok ||
      napi_typeof(env, argv[5], &on_error_type) != napi_ok || on_batch_type != napi_function || on_error_type != napi_function) {
    sy_throw_type(env, usage);
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *meta;
  if (napi_get_typedarray_info(env, argv[2], &type, &length, &meta, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || length < 3 * BATCH) {
    sy_throw_type(env, "meta must be a Uint32Array of 3 * batch entries");
    return NULL;
  }
  struct sockaddr_in6 local;
  socklen_t local_len;
  if (host_text == 0 || !local_address(host, port, &local, &local_len)) {
    sy_throw_type(env, "host must be an IP literal");
    return NULL;
  }
  signal_socket_t *s = sy_calloc(1, sizeof *s);
  if (s == NULL) {
    sy_throw_no_memory(env, "the socket");
    return NULL;
  }
  s->fd = -1;
  s->env = env;
  s->meta = meta;
  const char *no_memory = (s->rbuf = sy_malloc((size_t)BATCH * MAX_DATAGRAM)) == NULL ? "the receive buffers"
                          : (s->sbuf = sy_malloc(SEND_AREA)) == NULL                 ? "the send queue"
                                                                                      : NULL;
  if (no_memory != NULL) {
    discard(env, s);
    sy_throw_no_memory(env, no_memory);
    return NULL;
  }
  int err = bind_socket(s, &local, local_len, buffer_bytes);
  if (err != 0) {
    discard(env, s);
    char text[IP_TEXT + 96];
    snprintf(text, sizeof text, "bind %s %s:%u (%s)", sy_errno_code(err), host, port, strerror(err));
    napi_throw_error(env, sy_errno_code(err), text);
    return NULL;
  }
  for (int i = 0; i < BATCH; i++) {
    s->riov[i].iov_base = s->rbuf + (size_t)i * MAX_DATAGRAM;
    s->riov[i].iov_len = MAX_DATAGRAM;
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
    s->rmsg[i].msg_hdr.msg_name = &s->raddr[i];
    s->smsg[i].msg_hdr.msg_iov = &s->siov[i];
    s->smsg[i].msg_hdr.msg_iovlen = 1;
    s->smsg[i].msg_hdr.msg_name = &s->saddr[i];
  }
  uv_loop_t *loop;
  napi_value resource, name, out;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[2], 1, &s->meta_ref) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &s->on_batch) != napi_ok || napi_create_reference(env, argv[5], 1, &s->on_error) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_latin1(env, "switchyard.signaling", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &s->async) != napi_ok) {
    discard(env, s);
    sy_throw_failed(env, "setting up the socket's callbacks");
    return NULL;
  }
  err = uv_poll_init(loop, &s->poll, s->fd);
  if (err != 0) {
    discard(env, s);
    sy_throw_errno(env, -err, "uv_poll_init");
    return NULL;
  }
  s->poll.data = s;
  s->open = 1;
  // From here the poll handle is the loop's until uv_close calls back: failures go through shut().
  if (napi_create_external(env, s, on_handle_dropped, NULL, &out) != napi_ok) {
    s->handle_dropped = 1; // there is no JavaScript handle to wait for
    shut(env, s);
    sy_throw_failed(env, "napi_create_external");
    return NULL;
  }
  err = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (err != 0) {
    shut(env, s); // the memory goes with the handle JavaScript never gets
    sy_throw_errno(env, -err, "uv_poll_start");
    return NULL;
  }
  return out;
}

// send(handle, buf, port, address): queued during a batch, sent at once otherwise. Returns
// false when the address is not an IP literal this socket can reach.
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const char *usage = "send(handle, buffer, port, address)";
  if (!sy_args(env, info, 4, argv, usage)) return NULL;
  signal_socket_t *s = handle_of(env, argv[0]);
  if (s == NULL) return NULL;
  void *data;
  size_t len;
  uint32_t port;
  char text[IP_TEXT];
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || napi_get_value_uint32(env, argv[2], &port) != napi_ok) {
    sy_throw_type(env, usage);
    return NULL;
  }
  int text_ok = sy_ip_text(env, argv[3], text, usage);
  if (text_ok < 0) return NULL;
  struct sockaddr_in6 to;
  socklen_t to_len;
  napi_value ok;
  if (text_ok == 0 || port > 65535 || !parse_address(s, text, strlen(text), (uint16_t)port, &to, &to_len)) {
    CHECK(napi_get_boolean(env, 0, &ok));
    return ok;
  }
  if (!s->in_batch || len > SEND_AREA) {
    if (s->scount > 0) flush(s); // keep the order of this socket's datagrams
    sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, to_len); // a failure loses the datagram, as UDP may
  } else {
    if (s->scount == BATCH || s->sused + len > SEND_AREA) flush(s);
    int i = s->scount++;
    memcpy(s->sbuf + s->sused, data, len);
    s->siov[i].iov_base = s->sbuf + s->sused;
    s->siov[i].iov_len = len;
    s->saddr[i] = to;
    s->smsg[i].msg_hdr.msg_namelen = to_len;
    s->sused += len;
  }
  CHECK(napi_get_boolean(env, 1, &ok));
  return ok;
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!sy_args(env, info, 1, argv, "port(handle)")) return NULL;
  signal_socket_t *s = handle_of(env, argv[0]);
  if (s == NULL) return NULL;
  struct sockaddr_in6 a;
  socklen_t len = sizeof a;
  if (getsockname(s->fd, (struct sockaddr *)&a, &len) < 0) {
    sy_throw_errno(env, errno, "getsockname");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_uint32(env, source_port(&a), &out));
  return out;
}

// queue(handle) -> [bytes queued, receive buffer bytes, datagrams dropped] (SO_MEMINFO): how full
// the socket's receive queue is, for overload control, in one system call.
static napi_value js_queue(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!sy_args(env, info, 1, argv, "queue(handle)")) return NULL;
  signal_socket_t *s = handle_of(env, argv[0]);
  if (s == NULL) return NULL;
  uint32_t mem[SK_MEMINFO_VARS] = {0};
  socklen_t len = sizeof mem;
  if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0) {
    sy_throw_errno(env, errno, "getsockopt SO_MEMINFO");
    return NULL;
  }
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 3, &out));
  const uint32_t fields[3] = {mem[SK_MEMINFO_RMEM_ALLOC], mem[SK_MEMINFO_RCVBUF], mem[SK_MEMINFO_DROPS]};
  for (uint32_t i = 0; i < 3; i++) {
    CHECK(napi_create_uint32(env, fields[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!sy_args(env, info, 1, argv, "close(handle)")) return NULL;
  signal_socket_t *s = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL || !s->open) return NULL;
  shut(env, s);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value batch;
  CHECK(napi_create_uint32(env, BATCH, &batch));
  napi_property_descriptor props[] = {
      {"batch", NULL, NULL, NULL, NULL, batch, napi_enumerable, NULL}, // datagrams per batch: meta holds 3 entries each
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"port", NULL, js_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"queue", NULL, js_queue, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      SY_FAULT_INJECTION_PROPERTY
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(switchyard_signal, init)
