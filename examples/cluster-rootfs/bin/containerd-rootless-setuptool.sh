#!/bin/sh
echo containerd-rootless-setuptool.sh
