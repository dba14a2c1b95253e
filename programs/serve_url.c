/* afmpeg serve and worker: URLs. Signed URLs (HMAC-SHA256 over "METHOD\nPATH\nEXPIRES" with a
 * key chosen by id, so keys rotate without downtime: add the new key first, drop the old one
 * once its URLs have expired), and the transfers the server makes on a caller's behalf
 * (inputs, outputs, webhooks) through libcurl: only to URLs under a configured prefix, never
 * following redirects, and, unless --allow-private, never to a loopback, link-local, private
 * or unspecified address, checked on the address actually connected (so a name that resolves
 * to 127.0.0.1 is refused too). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "serve.h"

/* ---- signatures ---- */

static void hmac_hex(const char *key, const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, len, md, &n);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static size_t signed_text(char *buf, size_t cap, const char *method, const char *path,
                          const char *expires)
{
    int n = snprintf(buf, cap, "%s\n%s\n%s", method, path, expires);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int srv_check_signature(server *s, const char *method, const char *path, const char *expires,
                        const char *kid, const char *sig, char *msg, size_t cap)
{
    const srv_config *c = &s->cfg;
    if (!expires || !kid || !sig) {
        snprintf(msg, cap, "a signed URL needs expires, kid and sig");
        return -1;
    }
    char *end;
    long long exp = strtoll(expires, &end, 10);
    if (end == expires || *end) {
        snprintf(msg, cap, "expires is not a time");
        return -1;
    }
    if (exp < (long long)time(NULL)) {
        snprintf(msg, cap, "the signed URL has expired");
        return -1;
    }
    /* HEAD is checked as GET (a signed GET URL may be probed) */
    if (!strcmp(method, "HEAD"))
        method = "GET";
    for (size_t i = 0; i < c->key_count; i++) {
        if (strcmp(c->key_ids[i], kid))
            continue;
        char text[4200], want[65];
        hmac_hex(c->keys[i], text, signed_text(text, sizeof text, method, path, expires), want);
        if (strlen(sig) == 64 && !CRYPTO_memcmp(want, sig, 64))
            return 0;
        snprintf(msg, cap, "the signature does not match");
        return -1;
    }
    snprintf(msg, cap, "no key '%.40s'", kid);
    return -1;
}

void srv_sign_path(server *s, const char *method, const char *path, unsigned ttl, char *buf,
                   size_t cap)
{
    const srv_config *c = &s->cfg;
    if (!c->key_count) {
        if (cap)
            *buf = '\0';
        return;
    }
    char expires[24], text[4200], sig[65];
    snprintf(expires, sizeof expires, "%lld", (long long)time(NULL) + ttl);
    hmac_hex(c->keys[0], text, signed_text(text, sizeof text, method, path, expires), sig);
    snprintf(buf, cap, "%s?expires=%s&kid=%s&sig=%s", path, expires, c->key_ids[0], sig);
}

void srv_sign_body(server *s, const char *timestamp, const char *data, size_t len, char *buf,
                   size_t cap)
{
    const srv_config *c = &s->cfg;
    if (!c->key_count) {
        if (cap)
            *buf = '\0';
        return;
    }
    size_t tl = strlen(timestamp);
    char *text = malloc(tl + 1 + len);
    if (!text) {
        *buf = '\0';
        return;
    }
    memcpy(text, timestamp, tl);
    text[tl] = '.';
    memcpy(text + tl + 1, data, len);
    char sig[65];
    hmac_hex(c->keys[0], text, tl + 1 + len, sig);
    free(text);
    snprintf(buf, cap, "sha256=%s", sig);
}

/* ---- transfers ---- */

int srv_url_allowed(server *s, const char *url, char *msg, size_t cap)
{
    const srv_config *c = &s->cfg;
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
        snprintf(msg, cap, "only http and https URLs are taken");
        return -1;
    }
    for (size_t i = 0; i < c->allow_url_count; i++)
        if (!strncmp(url, c->allow_urls[i], strlen(c->allow_urls[i])))
            return 0;
    snprintf(msg, cap, c->allow_url_count ? "the URL is under no allowed prefix (--allow-url)"
                                          : "this server fetches no URL (see --allow-url)");
    return -1;
}

/* Loopback, link-local, private, unspecified, multicast, or mapped ones of those. */
static int private_address(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 127 || (a >> 24) == 10 || (a >> 24) == 0 ||
               (a >> 16) == 0xA9FE /* 169.254 */ || (a >> 20) == 0xAC1 /* 172.16/12 */ ||
               (a >> 16) == 0xC0A8 /* 192.168 */ || (a >> 22) == 0x191 /* 100.64/10 */ ||
               (a >> 28) >= 0xE;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, a->s6_addr + 12, 4);
            return private_address((struct sockaddr *)&v4);
        }
        return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
               IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
               IN6_IS_ADDR_MULTICAST(a) || (a->s6_addr[0] & 0xFE) == 0xFC /* fc00::/7 */;
    }
    return 1;
}

typedef struct xfer {
    server *s;
    afmpeg_cancel_token *cancel;
    unsigned char *data;
    size_t len, cap;
    uint64_t max;
    int refused, too_big;
} xfer;

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = clientp;
    if (!x->s->cfg.allow_private && private_address(&a->addr)) {
        x->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    xfer *x = userdata;
    size_t len = size * n;
    if (x->len + len > x->max) {
        x->too_big = 1;
        return 0;
    }
    if (x->len + len > x->cap) {
        size_t cap = x->cap ? x->cap : 256 * 1024;
        while (cap < x->len + len)
            cap *= 2;
        unsigned char *d = realloc(x->data, cap);
        if (!d)
            return 0;
        x->data = d;
        x->cap = cap;
    }
    memcpy(x->data + x->len, p, len);
    x->len += len;
    return len;
}

static int on_progress(void *clientp, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    xfer *x = clientp;
    return afmpeg_cancel_token_is_cancelled(x->cancel);
}

static CURL *easy(server *s, const char *url, xfer *x, char *msg, size_t cap)
{
    if (srv_url_allowed(s, url, msg, cap))
        return NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "afmpeg");
    return c;
}

/* The outcome of a finished transfer: 0, or -1 with msg and *transient. */
static int outcome(CURL *c, CURLcode rc, xfer *x, const char *url, int *transient, char *msg,
                   size_t cap)
{
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    *transient = 0;
    if (x->refused) {
        snprintf(msg, cap, "%s: the address is loopback, link-local or private (see "
                 "--allow-private)", url);
        return -1;
    }
    if (x->too_big) {
        snprintf(msg, cap, "%s: more than %llu bytes", url, (unsigned long long)x->max);
        return -1;
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(msg, cap, "%s: cancelled", url);
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(msg, cap, "%s: %s", url, curl_easy_strerror(rc));
        *transient = 1;
        return -1;
    }
    if (code < 200 || code > 299) {
        snprintf(msg, cap, "%s: HTTP status %ld", url, code);
        *transient = code >= 500 || code == 429 || code == 408;
        return -1;
    }
    return 0;
}

int srv_url_get(server *s, const char *url, uint64_t max, afmpeg_cancel_token *cancel,
                void **data, size_t *len, int *transient, char *msg, size_t cap)
{
    xfer x = {s, cancel, NULL, 0, 0, max, 0, 0};
    *transient = 0;
    CURL *c = easy(s, url, &x, msg, cap);
    if (!c)
        return -1;
    CURLcode rc = curl_easy_perform(c);
    int ret = outcome(c, rc, &x, url, transient, msg, cap);
    curl_easy_cleanup(c);
    if (ret) {
        free(x.data);
        return -1;
    }
    *data = x.data ? x.data : malloc(1);
    *len = x.len;
    return *data ? 0 : -1;
}

int srv_url_send(server *s, const char *method, const char *url, const void *data, size_t len,
                 const char *const *headers, afmpeg_cancel_token *cancel, int *transient,
                 char *msg, size_t cap)
{
    xfer x = {s, cancel, NULL, 0, 0, 1u << 20, 0, 0};
    *transient = 0;
    CURL *c = easy(s, url, &x, msg, cap);
    if (!c)
        return -1;
    struct curl_slist *h = NULL;
    for (; headers && *headers; headers++)
        h = curl_slist_append(h, *headers);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(c);
    int ret = outcome(c, rc, &x, url, transient, msg, cap);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(x.data);
    return ret;
}
