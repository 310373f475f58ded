ovs-ofctl -O OpenFlow15 add-tlv-map br-ex '{class=0xffff,type=0x1,len=4}->tun_metadata0'
ovs-ofctl -O OpenFlow15 add-groups br-ex               "/tmp/sample-save2/ovs-save.hqhI2mEE4D/br-ex.groups.dump"  --bundle
ovs-ofctl -O OpenFlow15 replace-flows br-ex               "/tmp/sample-save2/ovs-save.hqhI2mEE4D/br-ex.flows.dump"  --bundle
ovs-ofctl -O OpenFlow14 add-tlv-map br-int '{class=0x102,type=0x80,len=4}->tun_metadata0'
ovs-ofctl -O OpenFlow14 add-groups br-int               "/tmp/sample-save2/ovs-save.hqhI2mEE4D/br-int.groups.dump"  --bundle
ovs-ofctl -O OpenFlow14 replace-flows br-int               "/tmp/sample-save2/ovs-save.hqhI2mEE4D/br-int.flows.dump"  --bundle
rm -rf "/tmp/sample-save2/ovs-save.hqhI2mEE4D"
