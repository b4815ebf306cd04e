<?php
// The probe-app contract (README "The probe-app contract"; exact bytes as in
// harness/probe/probe_contract.cpp) for php-fpm and php-cgi. Every piece is flushed at once
// (output_buffering=0), so streaming shows through.
function probe_reason($s) {
  $r = [200 => 'OK', 201 => 'Created', 204 => 'No Content', 301 => 'Moved Permanently',
        302 => 'Found', 304 => 'Not Modified', 400 => 'Bad Request', 403 => 'Forbidden',
        404 => 'Not Found', 405 => 'Method Not Allowed', 500 => 'Internal Server Error',
        502 => 'Bad Gateway', 503 => 'Service Unavailable', 504 => 'Gateway Timeout'];
  return $r[$s] ?? 'Unknown';
}
$q = ['status' => 200, 'size' => null, 'chunk' => 0, 'delay_ms' => 0, 'first_byte_ms' => 0,
      'echo' => 0, 'stderr' => 0];
foreach (explode('&', $_SERVER['QUERY_STRING'] ?? '') as $item) {
  $kv = explode('=', $item, 2);
  if (count($kv) == 2 && array_key_exists($kv[0], $q)) $q[$kv[0]] = (int)$kv[1];
}
$size = $q['size'];
$stdin = '';
if ($size === null) $stdin = file_get_contents('php://input');  // echo and listing read it
if ($q['first_byte_ms']) usleep($q['first_byte_ms'] * 1000);
// FastCGI SAPIs send error_log() text as FCGI_STDERR (fcgi.logging), adding a newline.
if ($q['stderr'] > 0) error_log(str_repeat('E', $q['stderr'] - 1));
header('Status: ' . $q['status'] . ' ' . probe_reason($q['status']));
header('Content-Type: application/octet-stream');
if ($size !== null) {
  $total = $size;
  $piece = $q['chunk'] ?: 65536;
  $block = str_repeat('0123456789abcdef', intdiv($piece, 16) + 2);
  $body_at = function ($off, $n) use ($block) { return substr($block, $off % 16, $n); };
} else {
  if ($q['echo']) {
    $body = $stdin;
  } else {
    $params = $_SERVER;
    foreach (['PHP_SELF', 'REQUEST_TIME', 'REQUEST_TIME_FLOAT', 'argv', 'argc'] as $k) unset($params[$k]);
    ksort($params, SORT_STRING);
    $body = '';
    foreach ($params as $k => $v) $body .= "$k=$v\n";
    $body .= 'STDIN-BYTES=' . strlen($stdin) . "\nSTDIN-SHA256=" . hash('sha256', $stdin) . "\n";
  }
  $total = strlen($body);
  $piece = $q['chunk'] ?: max($total, 1);
  $body_at = function ($off, $n) use ($body) { return substr($body, $off, $n); };
}
for ($off = 0; $off < $total; $off += $piece) {
  if ($off > 0 && $q['delay_ms']) usleep($q['delay_ms'] * 1000);
  echo $body_at($off, min($piece, $total - $off));
  flush();
}
