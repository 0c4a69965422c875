// The media relay's native data plane: UDP sessions forwarded by worker threads (epoll,
// recvmmsg/sendmmsg), controlled from JavaScript. A session is one bound port with two
// parties; the rules are those of modules/media-relay/relay/media-session.ts (the pure-JS
// engine), which the tests run against both engines:
//   - a datagram from a party's current address goes, unchanged, to the other party;
//   - a party that has not sent yet latches to a new source from its expected IP, unless the
//     other party could latch to it too (ambiguous): then, like any other source, it is a
//     stranger, dropped and counted.
//
// Sessions live in a table indexed by port. A slot is allocated on first use and never freed
// before the engine is, so a worker never touches freed memory; each slot has a mutex (taken
// by its worker around one drain, by JavaScript around a change) and a generation number that
// tells a stale readiness event of a closed socket from one of its successor.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define DRAIN_ROUNDS 4
#define MAX_DATAGRAM 65536
// Not a power of two, so the batch's buffers do not all map to the same cache sets.
#define BUF_STRIDE (MAX_DATAGRAM + 192)
#define MAX_EVENTS 256
#define PORTS 65536

typedef struct {
  struct sockaddr_in6 expected; // sin6_family == 0: not known
  struct sockaddr_in6 current;  // where its media goes; its source once it has sent
  int has_sent;
  uint64_t packets, bytes;
} party_t;

typedef struct {
  pthread_mutex_t lock;
  int fd;        // -1 when closed
  int family;    // of the socket: AF_INET6 (dual-stack or v6) or AF_INET
  uint32_t gen;
  int worker;
  party_t p[2];
  uint64_t strangers, send_errors;
} slot_t;

struct engine;

typedef struct {
  struct engine *eng;
  int ep;
  int wake;
  pthread_t th;
  int started;
} worker_t;

typedef struct engine {
  slot_t *slots[PORTS];
  pthread_mutex_t table_lock; // slot allocation only
  worker_t *workers;
  int n_workers;
  int next_worker;
  int rcvbuf;
  volatile int stop;
  int destroyed;
} engine_t;

// --- addresses ---------------------------------------------------------------------------

// Every address is kept as a sockaddr_in6 (IPv4 as ::ffff:a.b.c.d); an AF_INET socket's
// addresses are converted at the system-call boundary.
static void to_mapped(struct sockaddr_in6 *out, const struct sockaddr_in *in) {
  memset(out, 0, sizeof *out);
  out->sin6_family = AF_INET6;
  out->sin6_port = in->sin_port;
  out->sin6_addr.s6_addr[10] = 0xff;
  out->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&out->sin6_addr.s6_addr[12], &in->sin_addr, 4);
}

static int same_ip(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
  return memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

static int same_endpoint(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
  return a->sin6_port == b->sin6_port && same_ip(a, b);
}

// --- the forwarding loop -----------------------------------------------------------------

typedef struct {
  struct mmsghdr rm[BATCH], sm[BATCH];
  struct iovec riov[BATCH], siov[BATCH];
  struct sockaddr_in6 src[BATCH];
  struct sockaddr_in dst4[BATCH];
  uint8_t *buf;
} batch_t;

static party_t *sender_of(slot_t *s, const struct sockaddr_in6 *from) {
  party_t *a = &s->p[0], *b = &s->p[1];
  if (a->current.sin6_family && same_endpoint(from, &a->current)) return a;
  if (b->current.sin6_family && same_endpoint(from, &b->current)) return b;
  int a_may = !a->has_sent && a->expected.sin6_family && same_ip(from, &a->expected);
  int b_may = !b->has_sent && b->expected.sin6_family && same_ip(from, &b->expected);
  if (a_may == b_may) return NULL;
  party_t *p = a_may ? a : b;
  p->current = *from;
  return p;
}

static void drain(slot_t *s, batch_t *bt) {
  for (int round = 0; round < DRAIN_ROUNDS; round++) {
    for (int i = 0; i < BATCH; i++) bt->rm[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    int r = recvmmsg(s->fd, bt->rm, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) return;
    int ns = 0;
    for (int i = 0; i < r; i++) {
      struct sockaddr_in6 from;
      if (s->family == AF_INET) to_mapped(&from, (const struct sockaddr_in *)&bt->src[i]);
      else from = bt->src[i];
      party_t *p = sender_of(s, &from);
      if (p == NULL) {
        s->strangers++;
        continue;
      }
      p->has_sent = 1;
      p->packets++;
      p->bytes += bt->rm[i].msg_len;
      party_t *to = p == &s->p[0] ? &s->p[1] : &s->p[0];
      if (!to->current.sin6_family || to->current.sin6_port == 0) {
        s->send_errors++;
        continue;
      }
      bt->siov[ns].iov_base = bt->riov[i].iov_base;
      bt->siov[ns].iov_len = bt->rm[i].msg_len;
      if (s->family == AF_INET) {
        struct sockaddr_in *d = &bt->dst4[ns];
        d->sin_family = AF_INET;
        d->sin_port = to->current.sin6_port;
        memcpy(&d->sin_addr, &to->current.sin6_addr.s6_addr[12], 4);
        bt->sm[ns].msg_hdr.msg_name = d;
        bt->sm[ns].msg_hdr.msg_namelen = sizeof *d;
      } else {
        bt->sm[ns].msg_hdr.msg_name = &to->current;
        bt->sm[ns].msg_hdr.msg_namelen = sizeof to->current;
      }
      ns++;
    }
    int off = 0;
    while (off < ns) {
      int sent = sendmmsg(s->fd, bt->sm + off, ns - off, MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) continue;
        s->send_errors++; // this datagram is lost (full queue, unreachable): go on with the rest
        off++;
        continue;
      }
      off += sent;
    }
    if (r < BATCH) return;
  }
}

static void *run_worker(void *arg) {
  worker_t *w = arg;
  engine_t *eng = w->eng;
  batch_t *bt = calloc(1, sizeof *bt);
  bt->buf = malloc((size_t)BATCH * BUF_STRIDE);
  if (bt->buf == NULL) return NULL;
  for (int i = 0; i < BATCH; i++) {
    bt->riov[i].iov_base = bt->buf + (size_t)i * BUF_STRIDE;
    bt->riov[i].iov_len = MAX_DATAGRAM;
    bt->rm[i].msg_hdr.msg_iov = &bt->riov[i];
    bt->rm[i].msg_hdr.msg_iovlen = 1;
    bt->rm[i].msg_hdr.msg_name = &bt->src[i];
    bt->sm[i].msg_hdr.msg_iov = &bt->siov[i];
    bt->sm[i].msg_hdr.msg_iovlen = 1;
  }
  struct epoll_event evs[MAX_EVENTS];
  while (!eng->stop) {
    int n = epoll_wait(w->ep, evs, MAX_EVENTS, 1000);
    for (int e = 0; e < n; e++) {
      uint64_t tag = evs[e].data.u64;
      if (tag == UINT64_MAX) continue; // the wake-up eventfd: look at `stop`
      slot_t *s = eng->slots[tag & 0xffff];
      pthread_mutex_lock(&s->lock);
      if (s->fd >= 0 && s->gen == (uint32_t)(tag >> 16)) drain(s, bt);
      pthread_mutex_unlock(&s->lock);
    }
  }
  free(bt->buf);
  free(bt);
  return NULL;
}

// --- engine life -------------------------------------------------------------------------

static void engine_stop(engine_t *eng) {
  if (eng->destroyed) return;
  eng->destroyed = 1;
  eng->stop = 1;
  for (int i = 0; i < eng->n_workers; i++) {
    uint64_t one = 1;
    if (write(eng->workers[i].wake, &one, sizeof one) < 0) { /* the worker wakes within its timeout anyway */ }
  }
  for (int i = 0; i < eng->n_workers; i++)
    if (eng->workers[i].started) pthread_join(eng->workers[i].th, NULL);
  for (int port = 0; port < PORTS; port++) {
    slot_t *s = eng->slots[port];
    if (s == NULL) continue;
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
  }
  for (int i = 0; i < eng->n_workers; i++) {
    close(eng->workers[i].ep);
    close(eng->workers[i].wake);
  }
}

static void engine_free(engine_t *eng) {
  engine_stop(eng);
  for (int port = 0; port < PORTS; port++) {
    slot_t *s = eng->slots[port];
    if (s == NULL) continue;
    pthread_mutex_destroy(&s->lock);
    free(s);
  }
  free(eng->workers);
  pthread_mutex_destroy(&eng->table_lock);
  free(eng);
}

static engine_t *engine_new(int n_workers, int rcvbuf) {
  engine_t *eng = calloc(1, sizeof *eng);
  if (eng == NULL) return NULL;
  pthread_mutex_init(&eng->table_lock, NULL);
  eng->rcvbuf = rcvbuf;
  eng->n_workers = n_workers;
  eng->workers = calloc((size_t)n_workers, sizeof(worker_t));
  for (int i = 0; i < n_workers; i++) {
    worker_t *w = &eng->workers[i];
    w->eng = eng;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (w->ep < 0 || w->wake < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake, &ev) < 0 ||
        pthread_create(&w->th, NULL, run_worker, w) != 0) {
      eng->n_workers = i + 1;
      engine_free(eng);
      return NULL;
    }
    w->started = 1;
    char name[24]; // the kernel keeps the first 15 bytes
    snprintf(name, sizeof name, "sy-media-%u", (unsigned)i % 100u); // shown by top -H, ps -L
    pthread_setname_np(w->th, name);
  }
  return eng;
}

// --- sessions ----------------------------------------------------------------------------

static slot_t *slot_for(engine_t *eng, int port) {
  pthread_mutex_lock(&eng->table_lock);
  slot_t *s = eng->slots[port];
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s != NULL) {
      pthread_mutex_init(&s->lock, NULL);
      s->fd = -1;
      eng->slots[port] = s;
    }
  }
  pthread_mutex_unlock(&eng->table_lock);
  return s;
}

// Binds `port` on `host` (`::` dual-stack, or a literal) and hands it to a worker; 0 or -errno.
static int session_open(engine_t *eng, int port, const char *host) {
  struct in6_addr a6;
  struct in_addr a4;
  int v4 = inet_pton(AF_INET, host, &a4) == 1;
  if (!v4 && inet_pton(AF_INET6, host, &a6) != 1) return -EINVAL;
  slot_t *s = slot_for(eng, port);
  if (s == NULL) return -ENOMEM;
  int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int off = 0;
  if (!v4) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  if (eng->rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eng->rcvbuf, sizeof eng->rcvbuf);
  int rc;
  if (v4) {
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = a4};
    rc = bind(fd, (struct sockaddr *)&la, sizeof la);
  } else {
    struct sockaddr_in6 la = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = a6};
    rc = bind(fd, (struct sockaddr *)&la, sizeof la);
  }
  if (rc < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  pthread_mutex_lock(&s->lock);
  if (s->fd >= 0) { // still open: the caller's bookkeeping is wrong, and the bind above cannot have succeeded
    pthread_mutex_unlock(&s->lock);
    close(fd);
    return -EBUSY;
  }
  s->fd = fd;
  s->family = v4 ? AF_INET : AF_INET6;
  s->gen++;
  memset(s->p, 0, sizeof s->p);
  s->strangers = s->send_errors = 0;
  s->worker = eng->next_worker;
  eng->next_worker = (eng->next_worker + 1) % eng->n_workers;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)s->gen << 16) | (uint64_t)port};
  rc = epoll_ctl(eng->workers[s->worker].ep, EPOLL_CTL_ADD, fd, &ev);
  if (rc < 0) {
    int err = errno;
    s->fd = -1;
    pthread_mutex_unlock(&s->lock);
    close(fd);
    return -err;
  }
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static void session_close(engine_t *eng, int port) {
  slot_t *s = eng->slots[port];
  if (s == NULL) return;
  pthread_mutex_lock(&s->lock);
  if (s->fd >= 0) {
    epoll_ctl(eng->workers[s->worker].ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
  }
  pthread_mutex_unlock(&s->lock);
}

// --- JavaScript bindings -----------------------------------------------------------------

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "SY_NATIVE", "native relay: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_free(data);
}

static engine_t *engine_arg(napi_env env, napi_value v) {
  engine_t *eng = NULL;
  if (napi_get_value_external(env, v, (void **)&eng) != napi_ok || eng == NULL) {
    napi_throw_type_error(env, "SY_NATIVE", "native relay: not an engine");
    return NULL;
  }
  if (eng->destroyed) {
    napi_throw_error(env, "SY_NATIVE", "native relay: engine destroyed");
    return NULL;
  }
  return eng;
}

static int port_arg(napi_env env, napi_value v, int *port) {
  int32_t p;
  if (napi_get_value_int32(env, v, &p) != napi_ok || p < 1 || p >= PORTS) {
    napi_throw_range_error(env, "SY_NATIVE", "native relay: port must be 1-65535");
    return 0;
  }
  *port = p;
  return 1;
}

static napi_value args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "SY_NATIVE", "native relay: missing arguments");
    return NULL;
  }
  return argv[0];
}

// The arguments every session call starts with, (engine, port, ...); false with a JS error pending.
static int session_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv, engine_t **eng, int *port) {
  if (args(env, info, want, argv) == NULL) return 0;
  *eng = engine_arg(env, argv[0]);
  return *eng != NULL && port_arg(env, argv[1], port);
}

// create(workers, rcvbufBytes) -> engine
static napi_value js_create(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (args(env, info, 2, argv) == NULL) return NULL;
  int32_t workers, rcvbuf;
  CHECK(napi_get_value_int32(env, argv[0], &workers));
  CHECK(napi_get_value_int32(env, argv[1], &rcvbuf));
  if (workers < 1 || workers > 64) {
    napi_throw_range_error(env, "SY_NATIVE", "native relay: workers must be 1-64");
    return NULL;
  }
  engine_t *eng = engine_new(workers, rcvbuf);
  if (eng == NULL) {
    napi_throw_error(env, "SY_NATIVE", "native relay: cannot start worker threads");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, eng, finalize_engine, NULL, &out));
  return out;
}

// destroy(engine): stops the workers and closes every socket (the memory goes with the engine object).
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (args(env, info, 1, argv) == NULL) return NULL;
  engine_t *eng = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&eng));
  if (eng != NULL) engine_stop(eng);
  return NULL;
}

// open(engine, port, host) -> 0 | -errno
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 3, argv, &eng, &port)) return NULL;
  char host[64];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[2], host, sizeof host, &len) != napi_ok) {
    napi_throw_type_error(env, "SY_NATIVE", "native relay: host must be a string");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_int32(env, session_open(eng, port, host), &out));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  session_close(eng, port);
  return NULL;
}

// setParty(engine, port, which 0|1, address, port): where the party's media is expected from;
// it latches anew. An address the socket's family cannot reach (or '') leaves it unknown.
static napi_value js_set_party(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 5, argv, &eng, &port)) return NULL;
  int32_t which, pport;
  CHECK(napi_get_value_int32(env, argv[2], &which));
  CHECK(napi_get_value_int32(env, argv[4], &pport));
  char text[64];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[3], text, sizeof text, &len) != napi_ok) {
    napi_throw_type_error(env, "SY_NATIVE", "native relay: address must be a string");
    return NULL;
  }
  slot_t *s = eng->slots[port];
  if (s == NULL || which < 0 || which > 1) return NULL;
  struct sockaddr_in6 e = {0};
  struct in_addr a4;
  if (inet_pton(AF_INET, text, &a4) == 1) {
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pport), .sin_addr = a4};
    to_mapped(&e, &in);
  } else if (inet_pton(AF_INET6, text, &e.sin6_addr) == 1) {
    e.sin6_family = AF_INET6;
    e.sin6_port = htons((uint16_t)pport);
  }
  pthread_mutex_lock(&s->lock);
  if (s->family == AF_INET && e.sin6_family && !IN6_IS_ADDR_V4MAPPED(&e.sin6_addr)) e.sin6_family = 0;
  party_t *p = &s->p[which];
  p->expected = e;
  p->current = e;
  p->has_sent = 0;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static napi_value address_value(napi_env env, const struct sockaddr_in6 *a) {
  char text[INET6_ADDRSTRLEN] = "";
  if (a->sin6_family) inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
  napi_value v;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
  return v;
}

// stats(engine, port) -> [packetsA, bytesA, packetsB, bytesB, strangers, sendErrors,
//                         latchedA, latchedB, addressA, portA, addressB, portB]
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  slot_t *s = eng->slots[port];
  if (s == NULL) return NULL;
  pthread_mutex_lock(&s->lock);
  party_t a = s->p[0], b = s->p[1];
  uint64_t strangers = s->strangers, send_errors = s->send_errors;
  pthread_mutex_unlock(&s->lock);
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 12, &out));
  double nums[6] = {(double)a.packets, (double)a.bytes, (double)b.packets, (double)b.bytes, (double)strangers, (double)send_errors};
  for (int i = 0; i < 6; i++) {
    napi_create_double(env, nums[i], &v);
    napi_set_element(env, out, (uint32_t)i, v);
  }
  napi_get_boolean(env, a.has_sent, &v);
  napi_set_element(env, out, 6, v);
  napi_get_boolean(env, b.has_sent, &v);
  napi_set_element(env, out, 7, v);
  napi_set_element(env, out, 8, address_value(env, &a.current));
  napi_create_int32(env, ntohs(a.current.sin6_port), &v);
  napi_set_element(env, out, 9, v);
  napi_set_element(env, out, 10, address_value(env, &b.current));
  napi_create_int32(env, ntohs(b.current.sin6_port), &v);
  napi_set_element(env, out, 11, v);
  return out;
}

// relayed(engine, port) -> datagrams relayed so far (the idle sweep compares it between sweeps).
static napi_value js_relayed(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  slot_t *s = eng->slots[port];
  double n = 0;
  if (s != NULL) {
    pthread_mutex_lock(&s->lock);
    n = (double)(s->p[0].packets + s->p[1].packets);
    pthread_mutex_unlock(&s->lock);
  }
  napi_value out;
  CHECK(napi_create_double(env, n, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setParty", NULL, js_set_party, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"relayed", NULL, js_relayed, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(switchyard_relay, init)
