#!/bin/bash
set -e
echo "docker.sh"
