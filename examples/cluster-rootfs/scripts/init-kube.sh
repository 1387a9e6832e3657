#!/bin/bash
set -e
echo "init-kube.sh"
