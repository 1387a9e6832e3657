#!/bin/bash
set -e
echo "clean.sh"
