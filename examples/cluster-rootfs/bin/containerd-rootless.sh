#!/bin/sh
echo containerd-rootless.sh
