# Creates a topic by a Metadata v4 request with allow_auto_topic_creation (ringbench does not:
# the broker does not serve CreateTopics yet). Usage: create_topic.py PORT TOPIC
import socket, struct, sys
port=int(sys.argv[1]); topic=sys.argv[2].encode()
body=struct.pack('>hhi',3,4,1)+struct.pack('>h',2)+b'rb'
body+=struct.pack('>i',1)+struct.pack('>h',len(topic))+topic+b'\x01'
s=socket.create_connection(('127.0.0.1',port))
s.sendall(struct.pack('>i',len(body))+body)
n=struct.unpack('>i',s.recv(4))[0]
data=b''
while len(data)<n: data+=s.recv(n-len(data))
print('metadata response', n, 'bytes')
