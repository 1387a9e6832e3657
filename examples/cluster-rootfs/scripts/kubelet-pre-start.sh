#!/bin/bash
set -e
echo "kubelet-pre-start.sh"
