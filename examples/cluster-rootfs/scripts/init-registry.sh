#!/bin/bash
set -e
echo "init-registry.sh"
