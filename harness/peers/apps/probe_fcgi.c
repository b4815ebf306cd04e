/* The probe-app contract (README "The probe-app contract"; exact bytes as in
 * harness/probe/probe_contract.cpp) over libfcgi (fcgiapp). Usage: probe_fcgi 127.0.0.1:P |
 * probe_fcgi /path.sock | probe_fcgi (fd 0, under spawn-fcgi). Flushes every piece. */
#include <fcgiapp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *reason(int s) {
  switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

/* -1 when absent. */
static long long qnum(const char *qs, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = qs; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
    if (!strncmp(p, key, kl) && p[kl] == '=') return atoll(p + kl + 1);
  return -1;
}

static int cmp(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  /* sort by name: compare up to '=' */
  size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
  int c = memcmp(x, y, nx < ny ? nx : ny);
  return c ? c : (nx > ny) - (nx < ny);
}

int main(int argc, char **argv) {
  int sock = 0;
  FCGX_Init();
  if (argc > 1 && (sock = FCGX_OpenSocket(argv[1], 128)) < 0) { perror("FCGX_OpenSocket"); return 1; }
  FCGX_Request r;
  FCGX_InitRequest(&r, sock, 0);
  static const char pat[] = "0123456789abcdef";
  while (FCGX_Accept_r(&r) == 0) {
    const char *qs = FCGX_GetParam("QUERY_STRING", r.envp);
    if (!qs) qs = "";
    long long status = qnum(qs, "status"), size = qnum(qs, "size"), chunk = qnum(qs, "chunk");
    long long delay = qnum(qs, "delay_ms"), first = qnum(qs, "first_byte_ms");
    long long echo = qnum(qs, "echo"), err = qnum(qs, "stderr");
    if (status < 0) status = 200;
    char *stdin_data = NULL, *body = NULL;
    size_t stdin_len = 0, total = 0;
    if (size < 0) { /* echo and the listing read the body */
      const char *cl = FCGX_GetParam("CONTENT_LENGTH", r.envp);
      size_t want = cl ? strtoull(cl, NULL, 10) : 0;
      stdin_data = malloc(want + 1);
      while (stdin_len < want) {
        int k = FCGX_GetStr(stdin_data + stdin_len, (int)(want - stdin_len > 65536 ? 65536 : want - stdin_len), r.in);
        if (k <= 0) break;
        stdin_len += k;
      }
    }
    if (first > 0) usleep(first * 1000);
    for (long long i = 0; i < err; ++i) FCGX_PutChar('E', r.err);
    FCGX_FFlush(r.err);
    FCGX_FPrintF(r.out, "Status: %lld %s\r\nContent-Type: application/octet-stream\r\n\r\n", status,
                 reason((int)status));
    if (size >= 0) {
      total = size;
      if (chunk <= 0) chunk = 65536;
    } else if (echo == 1) {
      body = stdin_data;
      total = stdin_len;
    } else {
      size_t n = 0, cap = 0;
      for (char **e = r.envp; *e; ++e) n++;
      char **sorted = malloc(sizeof(char *) * (n + 1));
      memcpy(sorted, r.envp, sizeof(char *) * n);
      qsort(sorted, n, sizeof(char *), cmp);
      for (size_t i = 0; i < n; ++i) cap += strlen(sorted[i]) + 1;
      body = malloc(cap + 200);
      for (size_t i = 0; i < n; ++i) total += sprintf(body + total, "%s\n", sorted[i]);
      free(sorted);
      unsigned char md[32];
      unsigned int mdlen = 0;
      EVP_Digest(stdin_data, stdin_len, md, &mdlen, EVP_sha256(), NULL);
      total += sprintf(body + total, "STDIN-BYTES=%zu\nSTDIN-SHA256=", stdin_len);
      for (int i = 0; i < 32; ++i) total += sprintf(body + total, "%02x", md[i]);
      total += sprintf(body + total, "\n");
    }
    if (chunk <= 0) chunk = total ? (long long)total : 1;
    for (size_t off = 0; off < total; off += chunk) {
      if (off && delay > 0) usleep(delay * 1000);
      size_t n = total - off < (size_t)chunk ? total - off : (size_t)chunk;
      if (size >= 0) {
        for (size_t i = 0; i < n; ++i) FCGX_PutChar(pat[(off + i) % 16], r.out);
      } else {
        FCGX_PutStr(body + off, (int)n, r.out);
      }
      FCGX_FFlush(r.out);
    }
    if (body != stdin_data) free(body);
    free(stdin_data);
    FCGX_Finish_r(&r);
  }
  return 0;
}
