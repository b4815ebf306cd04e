#!/usr/bin/perl
# The probe-app contract (README "The probe-app contract"; exact bytes as in
# harness/probe/probe_contract.cpp) as a CGI script for fcgiwrap. Unbuffered output: fcgiwrap
# relays each piece as it reads it; STDERR becomes FCGI_STDERR (fcgiwrap -f).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(usleep);

my %reasons = (200 => 'OK', 201 => 'Created', 204 => 'No Content', 301 => 'Moved Permanently',
               302 => 'Found', 304 => 'Not Modified', 400 => 'Bad Request', 403 => 'Forbidden',
               404 => 'Not Found', 405 => 'Method Not Allowed', 500 => 'Internal Server Error',
               502 => 'Bad Gateway', 503 => 'Service Unavailable', 504 => 'Gateway Timeout');
binmode STDIN; binmode STDOUT; binmode STDERR;
$| = 1;
my %q = (status => 200, chunk => 0, delay_ms => 0, first_byte_ms => 0, echo => 0, stderr => 0);
for my $item (split /&/, $ENV{QUERY_STRING} // '') {
  my ($k, $v) = split /=/, $item, 2;
  $q{$k} = int($v) if defined $v && (exists $q{$k} || $k eq 'size');
}
my $stdin = '';
if (!defined $q{size}) {
  my $n = $ENV{CONTENT_LENGTH} || 0;
  while (length($stdin) < $n) { last unless read(STDIN, $stdin, $n - length($stdin), length($stdin)); }
}
usleep($q{first_byte_ms} * 1000) if $q{first_byte_ms};
if ($q{stderr}) { print STDERR 'E' x $q{stderr}; }
print "Status: $q{status} " . ($reasons{$q{status}} // 'Unknown') . "\r\n";
print "Content-Type: application/octet-stream\r\n\r\n";
my ($total, $piece, $body_at);
if (defined $q{size}) {
  $total = $q{size};
  $piece = $q{chunk} || 65536;
  my $block = '0123456789abcdef' x (int($piece / 16) + 2);
  $body_at = sub { substr($block, $_[0] % 16, $_[1]) };
} else {
  my $body;
  if ($q{echo}) {
    $body = $stdin;
  } else {
    $body = join('', map { "$_=$ENV{$_}\n" } sort keys %ENV);
    $body .= 'STDIN-BYTES=' . length($stdin) . "\nSTDIN-SHA256=" . sha256_hex($stdin) . "\n";
  }
  $total = length $body;
  $piece = $q{chunk} || ($total > 0 ? $total : 1);
  $body_at = sub { substr($body, $_[0], $_[1]) };
}
for (my $off = 0; $off < $total; $off += $piece) {
  usleep($q{delay_ms} * 1000) if $off && $q{delay_ms};
  my $n = $total - $off < $piece ? $total - $off : $piece;
  print $body_at->($off, $n);
}
