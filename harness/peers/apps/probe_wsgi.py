# The probe-app contract (README "The probe-app contract"; exact bytes as in
# harness/probe/probe_contract.cpp) as a WSGI app for uWSGI. Each piece is yielded separately,
# which uWSGI writes out at once, so streaming shows through.
import hashlib
import time

REASONS = {200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found',
           304: 'Not Modified', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found',
           405: 'Method Not Allowed', 500: 'Internal Server Error', 502: 'Bad Gateway',
           503: 'Service Unavailable', 504: 'Gateway Timeout'}
PATTERN = b'0123456789abcdef'


def application(environ, start_response):
    q = {'status': 200, 'size': None, 'chunk': 0, 'delay_ms': 0, 'first_byte_ms': 0, 'echo': 0,
         'stderr': 0}
    for item in environ.get('QUERY_STRING', '').split('&'):
        k, sep, v = item.partition('=')
        if sep and k in q:
            q[k] = int(v)
    size = q['size']
    stdin = b''
    if size is None:  # echo and the listing read the body
        stdin = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
    if q['first_byte_ms']:
        time.sleep(q['first_byte_ms'] / 1000.0)
    if q['stderr']:  # uWSGI has no FCGI_STDERR: this goes to its log
        environ['wsgi.errors'].write('E' * q['stderr'])
    if size is not None:
        total = size
        piece = q['chunk'] or 65536
        block = PATTERN * (piece // 16 + 2)
        body_at = lambda off, n: block[off % 16:off % 16 + n]
    else:
        if q['echo']:
            body = stdin
        else:
            params = sorted((k, v) for k, v in environ.items()
                            if isinstance(v, str) and '.' not in k)
            body = ''.join('%s=%s\n' % kv for kv in params).encode('latin-1')
            body += b'STDIN-BYTES=%d\nSTDIN-SHA256=%s\n' % (
                len(stdin), hashlib.sha256(stdin).hexdigest().encode())
        total = len(body)
        piece = q['chunk'] or max(total, 1)
        body_at = lambda off, n: body[off:off + n]
    start_response('%d %s' % (q['status'], REASONS.get(q['status'], 'Unknown')),
                   [('Content-Type', 'application/octet-stream')])

    def pieces():
        off = 0
        while off < total:
            if off and q['delay_ms']:
                time.sleep(q['delay_ms'] / 1000.0)
            yield body_at(off, min(piece, total - off))
            off += piece
    return pieces()
