#!/bin/bash
set -e
echo "init.sh"
