"""ConfigSpecs as pyVmomi writes them (SoapAdapter.Serialize, API 8.0.2.0),
built the way pyVmomi's community samples build a new VM's spec.

usage: python make.py DIR   (with the venv that has pyVmomi)"""
import os
import sys

from pyVmomi import SoapAdapter, vim

D = vim.vm.device


def spec_app01():
    s = vim.vm.ConfigSpec(name="app01", numCPUs=2, memoryMB=4096, guestId="ubuntu64Guest",
                          uuid="4210a5c1-5d2e-4c7b-9f3a-1b2c3d4e5f60", firmware="efi",
                          files=vim.vm.FileInfo(vmPathName="[datastore1] app01/app01.vmx"))
    s.deviceChange = [
        D.VirtualDeviceSpec(operation="add", device=D.ParaVirtualSCSIController(
            key=1000, busNumber=0, sharedBus="noSharing")),
        D.VirtualDeviceSpec(operation="add", fileOperation="create", device=D.VirtualDisk(
            key=-101, controllerKey=1000, unitNumber=0, capacityInKB=20 * 1024 * 1024,
            backing=D.VirtualDisk.FlatVer2BackingInfo(
                fileName="[datastore1] app01/app01.vmdk", diskMode="persistent",
                thinProvisioned=True))),
        D.VirtualDeviceSpec(operation="add", device=D.VirtualVmxnet3(
            key=-102, addressType="manual", macAddress="00:50:56:01:02:03",
            backing=D.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network"),
            connectable=D.VirtualDevice.ConnectInfo(startConnected=True))),
        D.VirtualDeviceSpec(operation="add", device=D.VirtualCdrom(
            key=-103, controllerKey=200, unitNumber=0,
            backing=D.VirtualCdrom.IsoBackingInfo(fileName="[datastore1] iso/ubuntu-22.04.iso"))),
    ]
    return s


def spec_legacy():
    s = vim.vm.ConfigSpec(name="legacy-db", numCPUs=4, numCoresPerSocket=2, memoryMB=8192,
                          guestId="windows2019srv_64Guest", firmware="bios",
                          files=vim.vm.FileInfo(vmPathName="[san01] legacy-db/legacy-db.vmx"))
    s.deviceChange = [
        D.VirtualDeviceSpec(operation="add", device=D.VirtualLsiLogicSASController(
            key=1000, busNumber=0, sharedBus="noSharing")),
        D.VirtualDeviceSpec(operation="add", device=D.VirtualAHCIController(key=15000, busNumber=0)),
        D.VirtualDeviceSpec(operation="add", fileOperation="create", device=D.VirtualDisk(
            key=-201, controllerKey=1000, unitNumber=0, capacityInKB=60 * 1024 * 1024,
            backing=D.VirtualDisk.FlatVer2BackingInfo(
                fileName="[san01] legacy-db/legacy-db.vmdk", diskMode="persistent"))),
        D.VirtualDeviceSpec(operation="add", fileOperation="create", device=D.VirtualDisk(
            key=-202, controllerKey=1000, unitNumber=1, capacityInKB=200 * 1024 * 1024,
            backing=D.VirtualDisk.FlatVer2BackingInfo(
                fileName="[san01] legacy-db/legacy-db_1.vmdk", diskMode="independent_persistent"))),
        D.VirtualDeviceSpec(operation="add", device=D.VirtualCdrom(
            key=-203, controllerKey=15000, unitNumber=0,
            backing=D.VirtualCdrom.RemotePassthroughBackingInfo(deviceName="", exclusive=False))),
        D.VirtualDeviceSpec(operation="add", device=D.VirtualE1000e(
            key=-204, addressType="manual", macAddress="00:50:56:0a:0b:0c",
            backing=D.VirtualEthernetCard.NetworkBackingInfo(deviceName="DB Network"))),
    ]
    return s


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, make in (("app01", spec_app01), ("legacy-db", spec_legacy)):
        x = SoapAdapter.Serialize(make(), version="vim.version.v8_0_2_0")
        with open(os.path.join(out, name + ".xml"), "wb") as fh:
            fh.write(x if isinstance(x, bytes) else x.encode())


if __name__ == "__main__":
    main(sys.argv[1])
