// MrfCli sends the requests Fabric3's admin CLI sends, with the same JDK
// client (java.net.HttpURLConnection) configured the same way, so Cairn's
// system tests can check that a Java client of that make gets through:
//
//	java MrfCli.java install <management URL> <archive file> <name>
//	java MrfCli.java deploy  <management URL> <name>
//	java MrfCli.java post    <management URL> <path> <content>
//
// It prints "CODE <status>" and then the body (the error stream for an
// error). Written for Cairn from the behaviour of fabric3-admin's
// DomainConnectionImpl (chunked streaming of 4096-byte chunks,
// Content-type application/json, a 20 s read timeout, content posted as
// a JSON string); it shares no code with it.
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class MrfCli {
    public static void main(String[] args) throws Exception {
        HttpURLConnection c;
        switch (args[0]) {
            case "install": {
                c = open(args[1] + "/domain/contributions/contribution/" + args[3], "PUT");
                c.setChunkedStreamingMode(4096);
                try (OutputStream os = c.getOutputStream(); InputStream is = Files.newInputStream(Path.of(args[2]))) {
                    is.transferTo(os);
                }
                break;
            }
            case "deploy": {
                c = open(args[1] + "/domain/deployments/contribution/" + args[2], "POST");
                c.connect();
                break;
            }
            case "post": {
                String path = args[2].startsWith("/") ? args[2] : "/" + args[2];
                c = open(args[1] + path, "POST");
                try (OutputStream os = c.getOutputStream()) {
                    os.write(jsonString(args[3]).getBytes(StandardCharsets.UTF_8));
                }
                break;
            }
            default:
                throw new IllegalArgumentException("unknown command " + args[0]);
        }
        int code;
        try {
            code = c.getResponseCode();
        } catch (java.io.IOException e) {
            System.out.println("ERROR " + e);
            return;
        }
        System.out.println("CODE " + code);
        InputStream body = code >= 400 ? c.getErrorStream() : c.getInputStream();
        if (body != null) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            body.transferTo(out);
            System.out.println(out.toString(StandardCharsets.UTF_8));
        }
        c.disconnect();
    }

    static HttpURLConnection open(String url, String verb) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.setDoOutput(true);
        c.setDoInput(true);
        c.setRequestMethod(verb);
        c.setRequestProperty("Content-type", "application/json");
        c.setReadTimeout(20000);
        return c;
    }

    // jsonString is s as a JSON string literal, as Jackson writes a String.
    static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
            }
        }
        return b.append('"').toString();
    }
}
