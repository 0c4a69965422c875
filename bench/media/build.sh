#!/bin/sh
# Builds the yardsticks (the load generator and the minimal C relay) next to this script.
set -e
cd "$(dirname "$0")"
gcc -O2 -Wall -Wextra -o udpload udpload.c -lm
gcc -O2 -Wall -Wextra -pthread -o crelay crelay.c
